"""What the server and every task's routes (``inference/routes/``) share: the serve settings, the
request limits written into the schema, the error answers and the ``Server`` a router is built for.

(No ``from __future__ import annotations`` here: FastAPI reads the request models, made per server
with its limits, from the annotations at run time.)
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

LOOPBACK = ("127.0.0.1", "localhost", "::1")  # addresses only this machine reaches: no key needed


class ServeSettings(BaseModel):
    """A server's settings; ``ecomsft serve``'s options are made from these fields (their bounds,
    defaults and help are declared here only)."""

    model_config = ConfigDict(extra="forbid")

    run: str
    max_batch_size: int = Field(default=32, gt=0, description="texts per model batch; larger requests are split")
    max_wait_ms: float = Field(default=5.0, ge=0, description="how long a request waits for others to batch with")
    microbatch: bool = Field(default=True, description="batch concurrent requests together")
    max_queue: int = Field(default=1024, gt=0, description="texts waiting for the model; beyond it 503 with Retry-After")
    max_texts: int = Field(default=64, gt=0, description="texts per request")
    max_chars: int = Field(default=2000, gt=0, description="characters per text")
    max_body_bytes: int = Field(default=1_000_000, gt=0, description="largest request body accepted")
    max_new_tokens: int = Field(default=256, gt=0, description="generation runs: the most new tokens a request may ask for")
    read_timeout_s: float = Field(default=15.0, gt=0, description="seconds a request has to arrive whole (headers and "
                                  "body); a slower client gets 408 and its connection closed")
    max_connections: int = Field(default=256, gt=0, description="open connections; one more gets 503 at once")
    public_docs: bool = Field(default=False, description="serve /docs, /redoc and /openapi.json without the API key")
    # Never passed on in the settings JSON of the workers: they read it from ECOMSFT_API_KEY.
    api_key: str | None = Field(default=None, exclude=True)
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "torch"
    blend: bool = Field(default=True, description="classification runs: mix in the run's tfidf-lr where training chose "
                        "a blend (/v1/info says); --no-blend: the fine-tuned model alone")


class ErrorResponse(BaseModel):
    error: str


ERRORS = {401: {"model": ErrorResponse, "description": "missing or wrong API key"},
          413: {"model": ErrorResponse, "description": "too many texts (max_texts) or too large a body (max_body_bytes)"},
          422: {"model": ErrorResponse, "description": "a request that does not match the schema"},
          503: {"model": ErrorResponse, "description": "overloaded (max_queue; see Retry-After) or not ready"}}
CLIENT_ERRORS = {k: ERRORS[k] for k in (401, 413, 422, 503)}

# "Not only whitespace", spelt out: a bare \S means other characters to a client's JSON-Schema
# (ECMAScript) validator than to pydantic's (Rust) regex, which also counts U+0085 as whitespace;
# this class is ECMAScript's whitespace, read the same by both.
NON_BLANK = "[^\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"


def text_type(settings: ServeSettings) -> Any:
    """A non-blank text of at most ``max_chars``, as the schema says."""
    return Annotated[str, Field(min_length=1, max_length=settings.max_chars, pattern=NON_BLANK,
                                description="a non-blank text")]


def texts_request(settings: ServeSettings, name: str, description: str) -> type[BaseModel]:
    """A body of 1 to ``max_texts`` texts, named ``name`` in the OpenAPI document (with the limits
    in its schema, so that the document says what is accepted)."""
    return create_model(name, __config__=ConfigDict(extra="forbid"), texts=(list[text_type(settings)], Field(
        min_length=1, max_length=settings.max_texts, description=description)))


class ClientError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


@dataclass
class Server:
    """What a task's router gets from the server: its settings, the loaded model (``state
    ["predictor"]``), the API-key dependency for its routes, and ``scored`` (items through the
    micro-batcher, 503 when overloaded)."""

    settings: ServeSettings
    state: dict
    guarded: list
    scored: Callable[[list], Awaitable[Any]]
