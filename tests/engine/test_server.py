"""`dojo engine serve`'s HTTP server on 127.0.0.1, through httpx and the openai client: answers
equal LLM.generate, concurrent requests share batches, bad requests get OpenAI's error object
with a 4xx status, and a client that goes away frees its KV pages."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time

import httpx
import openai
import pytest
import uvicorn
from typer.testing import CliRunner

from engine import LLM, SamplingParams
from engine.server import build_app
from grader.cli.app import app

KNOBS = dict(block_size=4, dtype="float32", kv_cache_tokens=1024)
PROMPT = "The capital of France is"


class Served:
    def __init__(self, llama_dir) -> None:
        self.llm = LLM(str(llama_dir), **KNOBS)
        app = build_app(self.llm)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.engine, self.model = self.server.config.app.state.engine, llama_dir.name
        sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.server.started, "the server did not start in 20 s"

    def post(self, path: str, **body) -> httpx.Response:
        return httpx.post(self.url + path, json={"model": self.model, **body}, timeout=30)

    def pages_idle(self) -> bool:
        """Every page free or held unlocked by the prefix cache: no request holds any."""
        pages = self.llm.pages
        return len(pages.free) + pages.evictable() == pages.total


def _greedy(ref: LLM, prompt, max_tokens: int, logprobs=None):
    sp = SamplingParams(temperature=0, max_tokens=max_tokens, logprobs=logprobs)
    return ref.generate([prompt], sp, use_tqdm=False)[0].outputs[0]


def _events(response: httpx.Response) -> list:
    """The data of each server-sent event; the final [DONE] as a string."""
    lines = [ln[len("data: ") :] for ln in response.iter_lines() if ln.startswith("data: ")]
    return [ln if ln == "[DONE]" else json.loads(ln) for ln in lines]


def test_completions_equal_generate_with_and_without_streaming(served, ref):
    want = _greedy(ref, PROMPT, 12, logprobs=2)
    body = dict(prompt=PROMPT, max_tokens=12, temperature=0, logprobs=2)
    got = served.post("/v1/completions", **body).json()
    choice = got["choices"][0]
    assert choice["text"] == want.text and choice["finish_reason"] == want.finish_reason
    assert got["usage"]["completion_tokens"] == len(want.token_ids)
    assert got["usage"]["prompt_tokens"] == len(ref.encode(PROMPT))
    assert choice["logprobs"]["token_logprobs"] == pytest.approx([lp for lp, _ in want.logprobs])
    with httpx.stream(
        "POST", served.url + "/v1/completions", json={"model": served.model, **body, "stream": True}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)
    assert events[-1] == "[DONE]" and all(e["object"] == "text_completion" for e in events[:-1])
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == want.text
    assert [e["choices"][0]["finish_reason"] for e in events[:-1]][-1] == want.finish_reason
    streamed = [v for e in events[:-1] for v in e["choices"][0]["logprobs"]["token_logprobs"]]
    assert streamed == pytest.approx([lp for lp, _ in want.logprobs])


def test_stop_strings_and_seeds_reach_the_sampler(served, ref):
    """A stop string cuts streamed and whole text alike; a seeded sample equals generate's."""
    text = _greedy(ref, PROMPT, 16).text
    stop = next(text[i : i + 2] for i in range(3, len(text) - 2) if text[i : i + 2].strip())
    sp = SamplingParams(temperature=0, max_tokens=16, stop=[stop])
    want = ref.generate([PROMPT], sp, use_tqdm=False)[0].outputs[0]
    assert want.finish_reason == "stop" and stop not in want.text
    body = dict(prompt=PROMPT, max_tokens=16, temperature=0, stop=[stop])
    whole = served.post("/v1/completions", **body).json()["choices"][0]
    assert (whole["text"], whole["finish_reason"]) == (want.text, "stop")
    with httpx.stream(
        "POST", served.url + "/v1/completions", json={"model": served.model, **body, "stream": True}
    ) as r:
        chunks = [e["choices"][0] for e in _events(r)[:-1]]
    assert "".join(c["text"] for c in chunks) == want.text and chunks[-1]["finish_reason"] == "stop"
    sp = SamplingParams(temperature=0.9, top_k=40, top_p=0.95, seed=7, max_tokens=10)
    want = ref.generate([PROMPT], sp, use_tqdm=False)[0].outputs[0].text
    body = dict(prompt=PROMPT, max_tokens=10, temperature=0.9, top_k=40, top_p=0.95, seed=7)
    assert served.post("/v1/completions", **body).json()["choices"][0]["text"] == want


def test_the_openai_client_gets_the_generate_answers(served, ref):
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "Kernel Dojo"}]
    want = _greedy(ref, ref.encode("Kernel Dojo", chat=True), 10)
    chat = client.chat.completions.create(
        model=served.model, messages=messages, max_tokens=10, temperature=0
    )
    assert chat.choices[0].message.content == want.text
    assert chat.choices[0].finish_reason == want.finish_reason
    chunks = client.chat.completions.create(
        model=served.model, messages=messages, max_tokens=10, temperature=0, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == want.text
    want = _greedy(ref, [5, 6, 7], 8)
    stream = client.completions.create(
        model=served.model, prompt=[5, 6, 7], max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in stream) == want.text
    assert [m.id for m in client.models.list()] == [served.model]


def test_fifty_concurrent_clients_all_complete_in_shared_batches(served, ref):
    prompts = [[5 + i % 40, 6 + i % 7, 7 + i % 11] for i in range(50)]
    sp = SamplingParams(temperature=0, max_tokens=8)
    want = [o.outputs[0].text for o in ref.generate(prompts, sp, use_tqdm=False)]

    async def ask(client, prompt):
        body = {"model": served.model, "prompt": prompt, "max_tokens": 8, "temperature": 0}
        r = await client.post(served.url + "/v1/completions", json=body)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["text"]

    async def everyone():
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(ask(client, p) for p in prompts))

    assert asyncio.run(everyone()) == want
    health = httpx.get(served.url + "/health").json()
    assert health["max_batch"] > 1, f"no two requests ever shared a step: {health}"
    assert health["running"] == health["waiting"] == 0 and served.pages_idle()


X = {"prompt": "x"}
BAD = {  # name: (body, status, words in the message, param)
    "malformed JSON": (b'{"model": ', 400, "body: JSON decode error", None),
    "missing prompt": ({}, 400, "prompt: Field required", "prompt"),
    "wrong type": ({**X, "temperature": "hot"}, 400, "temperature: Input should be", "temperature"),
    "unknown model": ({**X, "model": "gpt-17"}, 404, "not served here", "model"),
    "max_tokens too large": ({**X, "max_tokens": 600}, 400, "ask for at most 511", "max_tokens"),
    "max_tokens zero": ({**X, "max_tokens": 0}, 400, "greater than or equal to 1", "max_tokens"),
    "prompt too long": ({"prompt": list(range(600))}, 400, "does not fit the context", "prompt"),
    "bad temperature": (
        {**X, "temperature": -1},
        400,
        "temperature must be finite and >= 0",
        "temperature",
    ),
    "bad top_p": ({**X, "top_p": 0}, 400, "top_p must be in (0, 1]", "top_p"),
    "bad top_k": ({**X, "top_k": 0}, 400, "top_k must be -1", "top_k"),
    "n > 1": ({**X, "n": 2}, 400, "one choice per request", "n"),
    "penalty": ({**X, "presence_penalty": 1}, 400, "not supported", "presence_penalty"),
}


def _post_raw(served, path: str, body) -> httpx.Response:
    if isinstance(body, dict):
        body = json.dumps({"model": served.model, **body}).encode()
    headers = {"content-type": "application/json"}
    return httpx.post(served.url + path, content=body, headers=headers, timeout=30)


def _assert_error(r: httpx.Response, status: int, words: str, param) -> None:
    assert r.status_code == status and set(r.json()) == {"error"}, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert words in error["message"] and "\n" not in error["message"], error["message"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", BAD)
def test_bad_requests_get_an_openai_error_object(served, case, stream):
    body, status, words, param = BAD[case]
    body = {**body, "stream": stream} if isinstance(body, dict) else body
    _assert_error(_post_raw(served, "/v1/completions", body), status, words, param)


CHAT_BAD = {
    "missing messages": ({}, "messages: Field required", "messages"),
    "messages not a list": (
        {"messages": "hi"},
        "messages: Input should be a valid list",
        "messages",
    ),
    "no messages": ({"messages": []}, "messages: List should have at least 1 item", "messages"),
}


@pytest.mark.parametrize("case", CHAT_BAD)
def test_bad_chat_requests_get_an_openai_error_object(served, case):
    body, words, param = CHAT_BAD[case]
    _assert_error(_post_raw(served, "/v1/chat/completions", body), 400, words, param)


def test_the_openai_client_raises_its_own_error_kinds(served):
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.completions.create(model="gpt-17", prompt="x")
    with pytest.raises(openai.BadRequestError, match="ask for at most"):
        client.completions.create(model=served.model, prompt="x", max_tokens=600)


def _held(served) -> int:
    return served.llm.pages.total - len(served.llm.pages.free) - served.llm.pages.evictable()


def test_a_client_that_disconnects_mid_stream_frees_its_pages(served):
    aborted = served.engine.aborted
    body = {"model": served.model, "prompt": PROMPT, "max_tokens": 480, "ignore_eos": True}
    with httpx.stream("POST", served.url + "/v1/completions", json={**body, "stream": True}) as r:
        lines = r.iter_lines()
        assert next(ln for ln in lines if ln.startswith("data: "))
        held = _held(served)  # read while the request runs: its pages are taken
    deadline = time.monotonic() + 10
    while served.engine.aborted == aborted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served.engine.aborted == aborted + 1, "the server never aborted the request"
    assert held > 0 and _held(served) == 0 and served.pages_idle()


def test_a_client_that_times_out_without_streaming_frees_its_pages(served):
    aborted = served.engine.aborted
    body = {"model": served.model, "prompt": PROMPT, "max_tokens": 480, "ignore_eos": True}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(served.url + "/v1/completions", json=body, timeout=0.3)
    deadline = time.monotonic() + 10
    while served.engine.aborted == aborted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served.engine.aborted == aborted + 1 and served.pages_idle()


def test_serve_without_the_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    monkeypatch.delitem(sys.modules, "engine.server", raising=False)
    result = CliRunner().invoke(app, ["engine", "serve", "--port", "0"])
    assert result.exit_code == 2 and "pip install -e '.[serve]'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_serve_on_a_taken_port_is_one_line(served):
    port = served.url.rsplit(":", 1)[1]
    result = CliRunner().invoke(app, ["engine", "serve", "--port", port])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
