"""``POST /v1/rank``: a query's candidates ordered by relevance (relevance and retrieval runs)."""

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ...inference.http import CLIENT_ERRORS, Server, text_type


class RankedProduct(BaseModel):
    index: int = Field(description="the candidate's position in the request")
    product: str
    score: float


class RankResponse(BaseModel):
    ranking: list[RankedProduct] = Field(description="the candidates, most relevant first")


def router(server: Server) -> APIRouter:
    text = text_type(server.settings)

    class RankRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        query: text = Field(description="the search query")
        candidates: list[text] = Field(min_length=1, max_length=server.settings.max_texts,
                                       description="product texts to order by relevance to the query")

    routes = APIRouter()

    @routes.post("/v1/rank", dependencies=server.guarded, response_model=RankResponse, responses=CLIENT_ERRORS)
    async def rank(body: RankRequest) -> RankResponse:
        candidates = body.candidates
        scores = await server.scored([(body.query, c) for c in candidates])
        order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
        return RankResponse(ranking=[RankedProduct(index=i, product=candidates[i], score=float(scores[i])) for i in order])

    return routes
