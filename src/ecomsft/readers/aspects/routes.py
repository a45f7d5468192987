"""``POST /v1/aspects``: each review's opinions (aspect, opinion, category, polarity, offsets, score)."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...inference.http import CLIENT_ERRORS, Server, texts_request


class Opinion(BaseModel):
    aspect: str | None = Field(description="the aspect term, or null when implicit")
    aspect_start: int | None
    aspect_end: int | None
    opinion: str | None = Field(description="the opinion term, or null when implicit")
    opinion_start: int | None
    opinion_end: int | None
    category: str
    polarity: str
    score: float = Field(description="the probability of the category times that of the polarity")


class AspectsResponse(BaseModel):
    opinions: list[list[Opinion]] = Field(description="per review, its opinions in order")


def router(server: Server) -> APIRouter:
    AspectsRequest = texts_request(server.settings, "AspectsRequest", "reviews to analyse, answered in the same order")
    routes = APIRouter()

    @routes.post("/v1/aspects", dependencies=server.guarded, response_model=AspectsResponse, responses=CLIENT_ERRORS)
    async def aspects(body: AspectsRequest) -> AspectsResponse:
        found = await server.scored(body.texts)
        return AspectsResponse(opinions=[[Opinion(**o) for o in opinions] for opinions in found])

    return routes
