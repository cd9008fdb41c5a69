"""The OpenAI wire format of `dojo engine serve` in its corners: unknown routes, wrong methods and
unreadable bodies get the error object, chat messages may be lists of text parts, and log-probs
(chat and completions) equal a log-softmax of transformers' own logits for the same tokens."""

from __future__ import annotations

import httpx
import openai
import pytest
import torch

from tests.engine.test_server import PROMPT, _assert_error, _greedy, _post_raw

TOP, STEPS = 3, 6  # top log-probs asked for; tokens generated
PARTS = [{"type": "text", "text": "Kernel "}, {"type": "text", "text": "Dojo"}]
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PARTS}]
AS_TEXT = [CHAT[0], {"role": "user", "content": "Kernel Dojo"}]  # what CHAT means


ROUTES = {  # (method, path): (status, words in the message)
    ("GET", "/v1/nothing"): (404, "invalid URL (GET /v1/nothing): this server has GET /health"),
    ("POST", "/v1/engines"): (404, "POST /v1/chat/completions, POST /v1/completions"),
    ("GET", "/v1/completions"): (405, "method not allowed (GET /v1/completions): use POST"),
    ("DELETE", "/v1/chat/completions"): (405, "use POST"),
    ("POST", "/health"): (405, "method not allowed (POST /health): use GET"),
}


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
def test_unknown_routes_and_wrong_methods_get_the_error_object(served, route):
    r = httpx.request(route[0], served.url + route[1], timeout=30)
    status, words = ROUTES[route]
    _assert_error(r, status, words, None)
    if status == 405:
        assert r.headers["allow"] in words, "a 405 names the allowed methods in Allow"


USER = [{"role": "user", "content": "hi"}]
BAD = {  # name: (body, words in the message, param); each a 400
    "not JSON": (b"{oops", "body: JSON decode error", None),
    "a JSON list": (b"[1, 2]", "body: Input should be a valid dictionary", None),
    "no body": (b"", "send a JSON object with Content-Type: application/json", None),
    "wrong type": (
        {"messages": USER, "max_tokens": "many"},
        "max_tokens: Input should be",
        "max_tokens",
    ),
    "no role": ({"messages": [{"content": "hi"}]}, "messages.0.role: Field required", "messages"),
    "content a number": (
        {"messages": [{"role": "user", "content": 5}]},
        "messages.0.content: Input should be a valid string",
        "messages",
    ),
    "image part": (
        {"messages": [{"role": "user", "content": [PARTS[0], {"type": "image_url"}]}]},
        "messages.0.content.1 is of type 'image_url': only text parts are supported",
        "messages",
    ),
    "text part without text": (
        {"messages": [CHAT[0], {"role": "user", "content": [{"type": "text"}]}]},
        "messages.1.content.0: a text part needs a string 'text'",
        "messages",
    ),
    "top_logprobs alone": (
        {"messages": USER, "top_logprobs": 2},
        "needs logprobs: true",
        "top_logprobs",
    ),
    "top_logprobs > 20": (
        {"messages": USER, "logprobs": True, "top_logprobs": 21},
        "top_logprobs: Input should be less than or equal to 20",
        "top_logprobs",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_unreadable_chat_bodies_get_the_error_object(served, case):
    _assert_error(_post_raw(served, "/v1/chat/completions", BAD[case][0]), 400, *BAD[case][1:])


def test_a_json_body_sent_as_text_gets_the_error_object(served):
    body = f'{{"model": "{served.model}", "prompt": "x"}}'
    r = httpx.post(
        served.url + "/v1/completions", content=body, headers={"content-type": "text/plain"}
    )
    _assert_error(r, 400, "Content-Type: application/json", None)


def test_chat_text_parts_are_joined_into_one_message(served, ref):
    want = _greedy(ref, ref.encode(AS_TEXT), 8)
    got = served.post("/v1/chat/completions", messages=CHAT, max_tokens=8, temperature=0).json()
    assert got["choices"][0]["message"]["content"] == want.text
    assert got["usage"]["prompt_tokens"] == len(ref.encode(AS_TEXT))
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    chunks = client.chat.completions.create(
        model=served.model, messages=CHAT, max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == want.text


@pytest.fixture(scope="module")
def hf(llama_dir):
    """transformers' model and tokenizer of the served directory: the log-prob oracle."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(llama_dir), dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(str(llama_dir))


def greedy_logprobs(hf, ids: list[int]) -> list[tuple]:
    """STEPS greedy tokens after ids, each as (text, log-prob, [(text, log-prob)] of the TOP
    most likely), from a float64 log_softmax of transformers' logits."""
    model, tok = hf
    out = []
    with torch.no_grad():
        for _ in range(STEPS):
            logits = model(torch.tensor([ids])).logits[0, -1]  # (V,)
            values, top = torch.log_softmax(logits.double(), dim=-1).topk(TOP)  # (TOP,) each
            out.append([(tok.decode([i]), v) for i, v in zip(top.tolist(), values.tolist())])
            ids = ids + [top[0].item()]
    return [(best[0][0], best[0][1], best) for best in out]


def check_chat_logprobs(content: list[dict], want: list[tuple]) -> None:
    assert len(content) == STEPS, content
    for entry, (text, value, top) in zip(content, want):
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}, entry
        assert entry["token"] == text and entry["logprob"] == pytest.approx(value, abs=1e-4)
        assert entry["bytes"] == (None if "\ufffd" in text else list(text.encode()))
        assert [(e["token"], e["bytes"]) for e in entry["top_logprobs"]] == [
            (t, None if "\ufffd" in t else list(t.encode())) for t, _ in top
        ]
        assert [e["logprob"] for e in entry["top_logprobs"]] == pytest.approx(
            [v for _, v in top], abs=1e-4
        )


def test_chat_logprobs_are_the_models_log_softmax(served, hf):
    """Whole and streamed (through the openai client), in OpenAI's chat shape."""
    text = hf[1].apply_chat_template(AS_TEXT, add_generation_prompt=True, tokenize=False)
    want = greedy_logprobs(hf, hf[1](text, add_special_tokens=False).input_ids)
    body = dict(messages=CHAT, max_tokens=STEPS, temperature=0, logprobs=True)
    post = lambda **more: served.post("/v1/chat/completions", **body, ignore_eos=True, **more)
    got = post(top_logprobs=TOP).json()["choices"][0]
    assert got["logprobs"]["refusal"] is None
    check_chat_logprobs(got["logprobs"]["content"], want)
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    chunks = client.chat.completions.create(
        model=served.model, **body, top_logprobs=TOP, stream=True, extra_body={"ignore_eos": True}
    )
    streamed = [e.model_dump() for c in chunks for e in (c.choices[0].logprobs.content or [])]
    check_chat_logprobs(streamed, want)
    alone = post().json()["choices"][0]["logprobs"]
    assert [e["top_logprobs"] for e in alone["content"]] == [[]] * STEPS  # top_logprobs: 0


def test_completion_logprobs_are_the_models_log_softmax(served, hf):
    want = greedy_logprobs(hf, hf[1](PROMPT).input_ids)
    body = dict(prompt=PROMPT, max_tokens=STEPS, temperature=0, ignore_eos=True, logprobs=TOP)
    got = served.post("/v1/completions", **body).json()["choices"][0]["logprobs"]
    assert got["tokens"] == [text for text, _, _ in want]
    assert got["token_logprobs"] == pytest.approx([v for _, v, _ in want], abs=1e-4)
    assert got["top_logprobs"] == [pytest.approx(dict(top), abs=1e-4) for _, _, top in want]
