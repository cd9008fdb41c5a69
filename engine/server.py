"""An OpenAI-compatible HTTP server over LLM: /v1/completions and /v1/chat/completions (streamed
as server-sent events on request), /v1/models and /health. One asyncio task owns the LLM: it runs
each step on a worker thread (the event loop keeps serving), admits and aborts requests between
steps, and after each step updates every request's Job, so concurrent requests share batches."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from engine.llm import LLM
from engine.sampler import SamplingParams
from engine.scheduler import Sequence

SAMPLING = {"temperature", "top_p", "top_k", "stop", "seed", "ignore_eos"}  # passed as they are
# OpenAI fields the engine cannot honour: any value that asks for something is refused
UNSUPPORTED = ("echo", "suffix", "frequency_penalty", "presence_penalty", "logit_bias", "tools")


class ApiError(Exception):
    """A failure shown to the client as OpenAI's error object, with its HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code=None) -> None:
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def body(self) -> dict:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": dict(message=str(self), type=kind, param=self.param, code=self.code)}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # an extension, as in vLLM
    ignore_eos: bool = False  # an extension, as in vLLM
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict | None = None


class CompletionBody(_Body):
    prompt: str | list[int]
    logprobs: int | None = None


class ChatBody(_Body):
    messages: list[dict]
    max_completion_tokens: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = None


@dataclass(eq=False)
class Job:
    """One request: what it asks, and its output so far, which the engine task updates."""

    prompt: str | list  # text, token ids or chat messages
    params: SamplingParams
    max_tokens: int | None  # as asked; None: the rest of the context
    chat: bool
    model: str
    wake: asyncio.Queue = field(default_factory=asyncio.Queue)  # None per update, or ApiError
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    seq: Sequence | None = None
    text: str = ""
    tokens: int = 0  # output tokens
    finish_reason: str | None = None
    logprobs: list = field(default_factory=list)  # per token: (text, logprob, [(text, lp)])

    async def follow(self, engine: EngineLoop):
        """Yields at admission and after each update; leaving before the end aborts the job."""
        try:
            while self.finish_reason is None:
                if isinstance(error := await self.wake.get(), ApiError):
                    raise error
                yield
        finally:
            if self.finish_reason is None:
                engine.put(self, abort=True)

    def reply(self, text: str | None, chunk: bool = False, lps: list | None = None) -> dict:
        """The response object or a stream chunk holding text (None: the usage chunk)."""
        kind = "chat.completion" + ".chunk" * chunk if self.chat else "text_completion"
        choice = dict(
            index=0, text=text, logprobs=self._logprobs(lps), finish_reason=self.finish_reason
        )
        if self.chat:
            message = dict(role="assistant", content=choice.pop("text"))
            choice["delta" if chunk else "message"] = message
        p, n = self.seq.prompt_len, self.tokens
        usage = dict(prompt_tokens=p, completion_tokens=n, total_tokens=p + n)
        return dict(
            id=f"{'chatcmpl' if self.chat else 'cmpl'}-{self.id}",
            object=kind,
            created=int(time.time()),
            model=self.model,
            choices=[] if text is None else [choice],
            usage=None if chunk and text is not None else usage,
        )

    def _logprobs(self, lps: list | None) -> dict | None:
        if self.params.logprobs is None:
            return None
        if self.chat:
            top = lambda best: [{"token": t, "logprob": v} for t, v in best]
            return {"content": [dict(token=t, logprob=v, top_logprobs=top(b)) for t, v, b in lps]}
        tokens, values, tops = zip(*lps) if lps else ((), (), ())
        return dict(tokens=tokens, token_logprobs=values, top_logprobs=[dict(t) for t in tops])


class EngineLoop:
    """The task that owns the LLM. Handlers only append (job, abort?) to `inbox` via put()."""

    def __init__(self, llm: LLM) -> None:
        self.llm, self.inbox, self.jobs, self.wake = llm, [], [], asyncio.Event()
        self.max_batch = self.aborted = 0  # most sequences given a token by one step; aborts

    def put(self, job: Job, abort: bool = False) -> None:
        self.inbox.append((job, abort))
        self.wake.set()

    async def run(self) -> None:
        while True:
            if not self.inbox and self.llm.scheduler.done():
                await self.wake.wait()
            self.wake.clear()
            for job, abort in self.inbox:
                self._drop(job) if abort else self._admit(job)
            self.inbox.clear()
            if self.llm.scheduler.done():
                continue
            try:
                await asyncio.to_thread(self.llm.step)
            except Exception as e:  # an engine bug: fail what is in flight, keep serving
                for job in list(self.jobs):
                    self._drop(job, ApiError(500, f"engine error: {type(e).__name__}: {e}"))
                continue
            self._deliver()

    def _admit(self, job: Job) -> None:
        llm = self.llm
        try:
            ids = llm.encode(job.prompt)
            room = llm.max_model_len - len(ids)
            if job.max_tokens is not None and job.max_tokens > room > 0:
                why = f"the prompt has {len(ids)} of the {llm.max_model_len} tokens of context"
                why = f"max_tokens={job.max_tokens} does not fit: {why}; ask for at most {room}"
                raise ApiError(400, why, "max_tokens", "context_length_exceeded")
            params = replace(job.params, max_tokens=job.max_tokens or max(room, 1))
            job.seq = llm.add_request(ids, params)
        except Exception as e:  # RequestError, a chat template's own error: the request's fault
            where = "messages" if job.chat else "prompt"
            error = e if isinstance(e, ApiError) else ApiError(400, str(e).split("\n")[0], where)
            return job.wake.put_nowait(error)
        self.jobs.append(job)
        job.wake.put_nowait(None)

    def _drop(self, job: Job, error: ApiError | None = None) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
            self.llm.abort(job.seq)
            self.aborted += error is None
        if error is not None:
            job.wake.put_nowait(error)

    def _deliver(self) -> None:
        self.max_batch = max(self.max_batch, sum(len(j.seq.output) > j.tokens for j in self.jobs))
        tok = self.llm.tokenizer
        piece = lambda t: tok.decode([t]) if tok is not None else str(t)
        for job in [j for j in self.jobs if len(j.seq.output) > j.tokens or j.seq.finish_reason]:
            out = self.llm._output(job.seq, None).outputs[0]
            new = zip(out.token_ids[job.tokens :], (out.logprobs or [])[job.tokens :])
            job.logprobs += [
                (piece(t), v, [(piece(i), w) for i, w in top.items()]) for t, (v, top) in new
            ]
            job.text, job.tokens, job.finish_reason = (
                out.text,
                len(out.token_ids),
                out.finish_reason,
            )
            job.wake.put_nowait(None)
            if job.finish_reason:
                self.jobs.remove(job)


def _params(body: _Body, max_tokens: int | None, logprobs: int | None) -> SamplingParams:
    if body.n != 1:
        raise ApiError(400, f"n={body.n}: this server gives one choice per request", "n")
    for name in UNSUPPORTED:
        if value := (body.model_extra or {}).get(name):
            raise ApiError(400, f"{name}={value!r} is not supported by this engine", name)
    try:
        asked = body.model_dump(include=SAMPLING)
        return SamplingParams(**asked, max_tokens=max_tokens or 1, logprobs=logprobs)
    except ValueError as e:  # "temperature must be >= 0, got -1": the field comes first
        raise ApiError(400, str(e), str(e).split()[0]) from None


async def _whole(job: Job, follow, request: Request) -> dict:
    async for _ in follow:
        if job.finish_reason is None and await request.is_disconnected():
            return {}  # nobody reads it; leaving aborts the request
    return job.reply(job.text, lps=job.logprobs)


async def _events(job: Job, follow, include_usage: bool):
    sse = lambda obj: f"data: {json.dumps(obj)}\n\n"
    shown, seen, hold = "", 0, max(map(len, job.params.stops), default=1) - 1  # a stop's start
    async with aclosing(follow):
        try:
            async for _ in follow:
                end = job.finish_reason is not None  # until then: no half character at the end
                text = job.text if end else job.text[: len(job.text) - hold].rstrip("\ufffd")
                delta, shown = text[len(shown) :], max(shown, text, key=len)
                lps, seen = job.logprobs[seen:], len(job.logprobs)
                if delta or lps or end:
                    yield sse(job.reply(delta, True, lps))
        except ApiError as e:
            yield sse(e.body())
            return
    if include_usage:
        yield sse(job.reply(None, True))
    yield "data: [DONE]\n\n"


async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
    first = e.errors()[0]
    where = [str(x) for x in first.get("loc", ()) if x != "body"]
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the body is not valid JSON: {first.get('msg')}").response()
    message = f"{'.'.join(where) or 'body'}: {first.get('msg')}"
    return ApiError(400, message, where[0] if where else None).response()


def build_app(llm: LLM, name: str | None = None) -> FastAPI:
    """The app over llm; its engine task runs while the app does (`app.state.engine`)."""
    name, engine, started = name or Path(llm.config.model).name, EngineLoop(llm), int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(engine.run())
        yield
        task.cancel()

    app = FastAPI(title="Kernel Dojo engine", lifespan=lifespan)
    app.state.engine, app.state.name = engine, name
    app.add_exception_handler(ApiError, lambda r, e: e.response())
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(
        HTTPException, lambda r, e: ApiError(e.status_code, e.detail).response()
    )

    async def answer(request: Request, body: _Body, prompt, chat: bool, max_tokens, logprobs):
        if body.model not in (name, llm.config.model):
            why = f"model '{body.model}' is not served here; GET /v1/models lists '{name}'"
            raise ApiError(404, why, "model", "model_not_found")
        job = Job(prompt, _params(body, max_tokens, logprobs), max_tokens, chat, name)
        engine.put(job)
        follow = job.follow(engine)
        await anext(follow)  # admitted, or the ApiError saying why not
        if not body.stream:
            async with aclosing(follow):
                return await _whole(job, follow, request)
        usage = (body.stream_options or {}).get("include_usage", False)
        return StreamingResponse(_events(job, follow, usage), media_type="text/event-stream")

    @app.post("/v1/completions")
    async def completions(body: CompletionBody, request: Request):
        max_tokens = 16 if body.max_tokens is None else body.max_tokens  # OpenAI's default
        return await answer(request, body, body.prompt, False, max_tokens, body.logprobs)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatBody, request: Request):
        logprobs = (body.top_logprobs or 0) if body.logprobs else None
        max_tokens = body.max_completion_tokens or body.max_tokens
        return await answer(request, body, body.messages, True, max_tokens, logprobs)

    @app.get("/v1/models")
    async def models():
        card = dict(id=name, object="model", created=started, owned_by="kernel-dojo")
        return {"object": "list", "data": [{**card, "max_model_len": llm.max_model_len}]}

    @app.get("/health")
    async def health():
        busy = dict(running=len(llm.scheduler.running), waiting=len(llm.scheduler.waiting))
        return dict(status="ok", **busy, max_batch=engine.max_batch, aborted=engine.aborted)

    return app


def make_server(llm: LLM, name: str | None = None, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server over build_app(llm); run it with .run(sockets=[listen(host, port)])."""
    config = uvicorn.Config(build_app(llm, name), log_level=log_level, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: a free one); OSError when the port is taken."""
    return socket.create_server((host, port))
