"""An OpenAI-compatible HTTP server over LLM: /v1/completions and /v1/chat/completions, streamed
as server-sent events on request, /v1/models and /health. One asyncio task steps the LLM on a worker
thread under a lock that handlers take to add requests, and hands each request its new tokens."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from engine.llm import LLM
from engine.openai_schema import (
    ApiError,
    ChatBody,
    CompletionBody,
    RequestBody,
    chat_logprobs,
    completion_logprobs,
    http_error,
    invalid,
)
from engine.sampler import SamplingParams
from engine.scheduler import Sequence


@dataclass(eq=False)
class Job:
    """One request: what it asks, and its output so far, which the engine task updates."""

    params: SamplingParams
    chat: bool
    model: str
    wake: asyncio.Queue = field(default_factory=asyncio.Queue)  # None per update, or ApiError
    seq: Sequence | None = None
    text: str = ""
    tokens: int = 0  # output tokens
    finish_reason: str | None = None
    logprobs: list = field(default_factory=list)  # per token: (text, logprob, [(text, lp)])
    cancelled: bool = False  # the client has gone: the engine task aborts it before its next step

    async def follow(self, engine: EngineLoop):  # yields per update; leaving early cancels
        try:
            while self.finish_reason is None:
                if isinstance(error := await self.wake.get(), ApiError):
                    raise error
                yield
        finally:  # no await here: a cancelled task would be cancelled again at the first one
            self.cancelled = self.finish_reason is None
            engine.work.set()

    def reply(self, text: str, chunk: bool = False, lps: list = ()) -> dict:
        """The response object, or a stream chunk (the last one with the usage)."""
        key = ("delta" if chunk else "message") if self.chat else "text"
        said = {"role": "assistant", "content": text} if self.chat else text
        choice = {"index": 0, key: said, "logprobs": None, "finish_reason": self.finish_reason}
        if self.params.logprobs is not None:
            choice["logprobs"] = (chat_logprobs if self.chat else completion_logprobs)(lps)
        p, n, done = self.seq.prompt_len, self.tokens, self.finish_reason is not None
        use = dict(prompt_tokens=p, completion_tokens=n, total_tokens=p + n)
        rid = f"{'chatcmpl' if self.chat else 'cmpl'}-{self.seq.id}"
        kind = "chat.completion" + ".chunk" * chunk if self.chat else "text_completion"
        head = dict(id=rid, object=kind, created=int(time.time()), model=self.model)
        return dict(head, choices=[choice], usage=use if done else None)


class EngineLoop:
    """The task that steps the LLM; handlers touch the LLM only under `lock`, never mid-step."""

    def __init__(self, llm: LLM) -> None:
        self.llm, self.lock, self.work, self.jobs = llm, asyncio.Lock(), asyncio.Event(), []
        self.max_batch = self.aborted = 0  # most sequences given a token by one step; aborts

    async def run(self) -> None:
        while await self.work.wait():
            async with self.lock:
                for job in [j for j in self.jobs if j.cancelled]:
                    self.jobs.remove(job)
                    self.llm.abort(job.seq)
                    self.aborted += 1
                if self.llm.scheduler.done():
                    self.work.clear()
                    continue
                try:
                    await asyncio.to_thread(self.llm.step)
                except Exception as e:  # an engine bug: fail what is in flight, keep serving
                    for job in self.jobs:
                        job.wake.put_nowait(ApiError(500, f"engine error: {type(e).__name__}: {e}"))
                        job.cancelled = True  # swept before the next step
                self._deliver()

    async def admit(self, job: Job, prompt: str | list, max_tokens: int | None) -> None:
        llm = self.llm  # prompt: text, token ids or chat messages; max_tokens None: all room
        async with self.lock:
            try:
                ids = llm.encode(prompt)
                room = llm.max_model_len - len(ids)
                if max_tokens is not None and max_tokens > room > 0:
                    why = f"the prompt has {len(ids)} of the {llm.max_model_len} tokens of context"
                    why = f"max_tokens={max_tokens} does not fit: {why}; ask for at most {room}"
                    raise ApiError(400, why, "max_tokens", "context_length_exceeded")
                job.params = replace(job.params, max_tokens=max_tokens or max(room, 1))
                job.seq = llm.add_request(ids, job.params)
            except ApiError:
                raise
            except Exception as e:  # RequestError, a chat template's error: the request's fault
                where = "messages" if job.chat else "prompt"
                raise ApiError(400, str(e).split("\n")[0], where) from None
            self.jobs.append(job)
            self.work.set()

    def _deliver(self) -> None:
        self.max_batch = max(self.max_batch, sum(len(j.seq.output) > j.tokens for j in self.jobs))
        piece = lambda t: self.llm.tokenizer.decode([t]) if self.llm.tokenizer else str(t)
        for job in [j for j in self.jobs if len(j.seq.output) > j.tokens or j.seq.finish_reason]:
            out = self.llm._output(job.seq, None).outputs[0]
            for t, (v, top) in zip(out.token_ids[job.tokens :], (out.logprobs or [])[job.tokens :]):
                job.logprobs.append((piece(t), v, [(piece(i), w) for i, w in top.items()]))
            job.text, job.finish_reason = out.text, out.finish_reason
            job.tokens = len(out.token_ids)
            job.wake.put_nowait(None)
            if job.finish_reason:
                self.jobs.remove(job)


async def _events(job: Job, follow):
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
            yield sse(e.body)
            return
    yield "data: [DONE]\n\n"


def build_app(llm: LLM, name: str | None = None) -> FastAPI:
    name, engine, started = name or Path(llm.config.model).name, EngineLoop(llm), int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(engine.run())
        yield
        task.cancel()

    app = FastAPI(title="Kernel Dojo engine", lifespan=lifespan)
    app.state.engine, app.state.name = engine, name
    app.add_exception_handler(ApiError, lambda r, e: e.response())
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)

    async def answer(request: Request, body: RequestBody, prompt, chat: bool, max_tokens, logprobs):
        if body.model not in (name, llm.config.model):
            why = f"model '{body.model}' is not served here; GET /v1/models lists '{name}'"
            raise ApiError(404, why, "model", "model_not_found")
        job = Job(body.sampling(max_tokens, logprobs), chat, name)
        await engine.admit(job, prompt, max_tokens)
        follow = job.follow(engine)
        if body.stream:
            return StreamingResponse(_events(job, follow), media_type="text/event-stream")
        async with aclosing(follow):
            async for _ in follow:
                if job.finish_reason is None and await request.is_disconnected():
                    return {}  # nobody reads it; leaving aborts the request
        return job.reply(job.text, lps=job.logprobs)

    @app.post("/v1/completions")
    async def completions(body: CompletionBody, request: Request):
        max_tokens = 16 if body.max_tokens is None else body.max_tokens  # OpenAI's default
        return await answer(request, body, body.prompt, False, max_tokens, body.logprobs)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatBody, request: Request):
        max_tokens = body.max_completion_tokens or body.max_tokens
        return await answer(request, body, body.texts(), True, max_tokens, body.top_n())

    @app.get("/v1/models")
    async def models():
        card = dict(id=name, object="model", created=started, owned_by="kernel-dojo")
        return {"object": "list", "data": [{**card, "max_model_len": llm.max_model_len}]}

    @app.get("/health")
    async def health():
        busy = dict(running=len(llm.scheduler.running), waiting=len(llm.scheduler.waiting))
        return dict(status="ok", **busy, max_batch=engine.max_batch, aborted=engine.aborted)

    return app
