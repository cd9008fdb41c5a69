"""The OpenAI wire format for engine/server.py: request bodies, chat messages with text parts,
log-prob objects, and the error object every failure is shown as (HTTP and validation ones too)."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from engine.sampler import SamplingParams

SAMPLING = {"temperature", "top_p", "top_k", "stop", "seed", "ignore_eos"}  # passed as they are
UNSUPPORTED = "echo suffix frequency_penalty presence_penalty logit_bias tools".split()  # 400


class ApiError(Exception):
    """A failure shown to the client as OpenAI's error object, with its HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code=None) -> None:
        super().__init__(message)
        kind = "invalid_request_error" if status < 500 else "server_error"
        error = dict(message=message, type=kind, param=param, code=code)
        self.status, self.body = status, {"error": error}

    def response(self, headers: dict | None = None) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=headers)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # extras are looked at for UNSUPPORTED
    model: str
    max_tokens: int | None = Field(None, ge=1)  # None: 16 for completions, all room for chat
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # an extension, as in vLLM
    ignore_eos: bool = False  # an extension, as in vLLM
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False

    def sampling(self, max_tokens: int | None, logprobs: int | None = None) -> SamplingParams:
        if self.n != 1:
            raise ApiError(400, f"n={self.n}: this server gives one choice per request", "n")
        for key in (k for k in UNSUPPORTED if (self.model_extra or {}).get(k)):
            raise ApiError(400, f"{key}={self.model_extra[key]!r} is not supported here", key)
        asked = self.model_dump(include=SAMPLING)
        try:
            return SamplingParams(**asked, max_tokens=max_tokens or 1, logprobs=logprobs)
        except ValueError as e:  # "temperature must be finite and >= 0, got -1": field first
            raise ApiError(400, str(e), str(e).split()[0]) from None


class CompletionBody(RequestBody):
    prompt: str | list[int]
    logprobs: int | None = None  # the top n of each token's distribution


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id...: the template's business
    role: str
    content: str | list[dict] | None = None  # a text, or parts of which only text ones are read


class ChatBody(RequestBody):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)

    def top_n(self) -> int | None:
        """The runner's log-prob count: None (off) or top_logprobs, 0 for the token's own."""
        if self.top_logprobs is not None and not self.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", "top_logprobs")
        return (self.top_logprobs or 0) if self.logprobs else None

    def texts(self) -> list[dict]:
        """The messages as the chat template takes them, text parts joined into one string."""
        text = lambda i, content: _joined(i, content) if isinstance(content, list) else content
        return [
            m.model_dump() | {"content": text(i, m.content)} for i, m in enumerate(self.messages)
        ]


def _joined(i: int, parts: list[dict]) -> str:
    """The text of message i's parts; a part that is not text is the client's error."""
    for j, p in enumerate(parts):
        where = f"messages.{i}.content.{j}"
        if p.get("type") != "text":
            why = f"{where} is of type {p.get('type')!r}: only text parts are supported"
            raise ApiError(400, why, "messages")
        if not isinstance(p.get("text"), str):
            raise ApiError(400, f"{where}: a text part needs a string 'text'", "messages")
    return "".join(p["text"] for p in parts)


def chat_logprobs(lps: list) -> dict:
    """OpenAI chat's log-probs of (token text, log-prob, [(text, log-prob) of the top n])."""
    one = lambda t, v: dict(token=t, logprob=v, bytes=None if "\ufffd" in t else list(t.encode()))
    content = [dict(one(t, v), top_logprobs=[one(*x) for x in top]) for t, v, top in lps]
    return {"content": content, "refusal": None}


def completion_logprobs(lps: list) -> dict:
    """OpenAI completions' log-probs: top_logprobs maps text to log-prob (alike texts collide)."""
    tokens, values, tops = zip(*lps) if lps else ((), (), ())
    return dict(tokens=tokens, token_logprobs=values, top_logprobs=[dict(t) for t in tops])


async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
    first = e.errors()[0]  # a bad JSON body's location is a character offset, not a field
    loc = [] if first["type"] == "json_invalid" else [str(x) for x in first["loc"][1:]]
    where = [x for x in loc if x != "str" and not x.startswith("list[")]  # no union member tags
    why = f"{'.'.join(where) or 'body'}: {first['msg']}"
    if not loc:  # no body, or not an object: a form, a list, or text sent as text/plain
        why = f"{why}: send a JSON object with Content-Type: application/json"
    error = ApiError(400, why, (where or [None])[0])
    return error.response()


async def http_error(request: Request, e: HTTPException) -> JSONResponse:
    """Starlette's own failures (no such route, a wrong method) as the error object."""
    asked = f"{request.method} {request.url.path}"
    routes = [
        f"{m} {r.path}" for r in request.app.routes if isinstance(r, APIRoute) for m in r.methods
    ]
    why = {
        404: f"invalid URL ({asked}): this server has {', '.join(sorted(routes))}",
        405: f"method not allowed ({asked}): use {(e.headers or {}).get('Allow')}",
    }.get(e.status_code, f"{asked}: {e.detail}")
    return ApiError(e.status_code, why).response(e.headers)
