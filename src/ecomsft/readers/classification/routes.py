"""``POST /v1/predict``: labels and class probabilities of a classification run."""

from fastapi import APIRouter
from pydantic import BaseModel

from ...inference.http import CLIENT_ERRORS, Server, texts_request


class Prediction(BaseModel):
    label: str | list[str]
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


def router(server: Server) -> APIRouter:
    PredictRequest = texts_request(server.settings, "PredictRequest", "texts to classify, answered in the same order")
    routes = APIRouter()

    @routes.post("/v1/predict", dependencies=server.guarded, response_model=PredictResponse, responses=CLIENT_ERRORS)
    async def predict(body: PredictRequest) -> PredictResponse:
        model = server.state["predictor"]
        probs = await server.scored(body.texts)
        return PredictResponse(predictions=[
            Prediction(label=label, probabilities=dict(zip(model.labels.names, map(float, row))))
            for label, row in zip(model.decide(probs), probs)
        ])

    return routes
