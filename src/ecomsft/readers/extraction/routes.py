"""``POST /v1/extract``: the entities of each text, as character spans (an extraction run)."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...inference.http import CLIENT_ERRORS, Server, texts_request


class Entity(BaseModel):
    start: int = Field(description="first character, an offset into the text as sent")
    end: int = Field(description="one past the last character")
    label: str
    text: str


class ExtractResponse(BaseModel):
    entities: list[list[Entity]] = Field(description="per text, its entities in order")


def router(server: Server) -> APIRouter:
    # Named as /v1/predict's body, which it was before each task had its module: the document is unchanged.
    ExtractRequest = texts_request(server.settings, "PredictRequest",
                                   "texts (titles) to extract attributes from, answered in the same order")
    routes = APIRouter()

    @routes.post("/v1/extract", dependencies=server.guarded, response_model=ExtractResponse, responses=CLIENT_ERRORS)
    async def extract(body: ExtractRequest) -> ExtractResponse:
        found = await server.scored(body.texts)
        return ExtractResponse(entities=[[Entity(**span) for span in spans] for spans in found])

    return routes
