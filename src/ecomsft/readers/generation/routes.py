"""``POST /v1/generate``: a generation run's answer to one prompt, as JSON or server-sent events.
Requests are not micro-batched: the model generates for one at a time (the Generator's lock), and
at most ``max_queue`` wait (503 beyond)."""

import asyncio
import json
import logging
import threading

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...inference.http import CLIENT_ERRORS, ClientError, Server, text_type

log = logging.getLogger("ecomsft")

# One server-sent event of /v1/generate (as clients and schemathesis read them: its data line).
SSE_EVENT = {"type": "object", "required": ["data"], "properties": {
    "data": {"type": "string", "description": 'JSON: {"text": piece} events, then {"done": true, "stopped", "new_tokens"}'},
    "event": {"type": "string"}}}


class GenerateResponse(BaseModel):
    text: str
    stopped: bool = Field(description="the model ended the answer itself (EOS) within max_new_tokens")
    new_tokens: int
    prompt_cut: bool = Field(description="the prompt was cut from its left to fit the model")


def router(server: Server) -> APIRouter:
    settings = server.settings
    text = text_type(settings)

    class GenerateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        prompt: text = Field(description="the user turn; the run's chat template and system turn are applied")
        max_new_tokens: int | None = Field(default=None, gt=0, le=settings.max_new_tokens,
                                           description="None: the run's default")
        stream: bool = Field(default=False, description="server-sent events: {text} pieces, then {done, stopped, new_tokens}")
        do_sample: bool = False
        temperature: float = Field(default=1.0, ge=0.01, le=10)  # as the CLI: below, sampling overflows
        top_p: float = Field(default=1.0, gt=0, le=1)
        top_k: int = Field(default=50, ge=0, le=1000)

    waiting = {"count": 0, "lock": threading.Lock()}  # generation requests in flight (max_queue)

    def admitted() -> None:
        """A request's place in the queue, or 503 when max_queue are in flight."""
        with waiting["lock"]:
            if waiting["count"] >= settings.max_queue:
                raise ClientError(503, f"overloaded: {settings.max_queue} generations in flight; retry after a second")
            waiting["count"] += 1

    def leave() -> None:
        with waiting["lock"]:
            waiting["count"] -= 1

    routes = APIRouter()

    @routes.post("/v1/generate", dependencies=server.guarded, response_model=GenerateResponse,
                 responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                                  "description": "JSON, or server-sent events when stream is true"}, **CLIENT_ERRORS})
    async def generate(body: GenerateRequest):
        model = server.state["predictor"]
        sampling = {"do_sample": body.do_sample, "temperature": body.temperature, "top_p": body.top_p, "top_k": body.top_k}
        admitted()
        if not body.stream:
            try:
                [answer] = await asyncio.to_thread(model.generate, [body.prompt], body.max_new_tokens, **sampling)
            finally:
                leave()
            return GenerateResponse(**answer)

        def events():
            try:
                for event in model.stream(body.prompt, body.max_new_tokens, **sampling):
                    yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
            except Exception:  # the status is sent already: the stream ends with an error event
                log.exception("generation stream failed")
                yield f"data: {json.dumps({'error': 'internal error while generating'})}\n\n"
            finally:
                leave()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return routes
