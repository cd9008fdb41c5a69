"""Fixtures for the engine tests: tiny random models of every family, built once per session."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine.tiny import make_model

FAMILIES = ("llama", "qwen2", "qwen3")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict:
    return {f: make_model(tmp_path_factory.mktemp(f), f) for f in FAMILIES}


@pytest.fixture(scope="session")
def llama_dir(tiny_dirs):
    return tiny_dirs["llama"]


def set_eos(path, eos: int) -> None:
    """Rewrite config.json's eos_token_id (the weights stay as they are)."""
    cfg = json.loads((path / "config.json").read_text())
    cfg["eos_token_id"] = eos
    (path / "config.json").write_text(json.dumps(cfg))


def hf_greedy(path, prompts: list[list[int]], max_new: int, eos: list[int]) -> list[list[int]]:
    """transformers' generate in fp32 on the batch (left-padded), each output cut after its
    first EOS (generate pads finished rows)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])  # (B, L) left-padded
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])  # (B, L)
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=mask,
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=eos[0],
        )
    outs = []
    for row in out[:, width:].tolist():
        stop = next((i for i, t in enumerate(row) if t in eos), len(row) - 1)
        outs.append(row[: stop + 1])
    return outs


@pytest.fixture(scope="module")
def served(llama_dir):
    """A `dojo engine serve` of the tiny Llama on 127.0.0.1, one per test module."""
    from tests.engine.test_server import Served

    s = Served(llama_dir)
    yield s
    s.server.should_exit = True
    s.thread.join(timeout=10)


@pytest.fixture(scope="module")
def ref(llama_dir):
    """The served model's LLM, in process: what the server's answers must equal."""
    from engine import LLM
    from tests.engine.test_server import KNOBS

    return LLM(str(llama_dir), **KNOBS)
