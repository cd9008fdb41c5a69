"""A call's GPU work is waited for in the worker before its output leaves, so a CUDA fault in it
is the call's own error (`crashed`), never an output whose IPC event the harness would wait on
forever (on an H200 a kernel writing 4 TB past its output hung the check). Simulated here with
a stand-in for torch.cuda: the order of launch, synchronize and export is what is checked."""

from __future__ import annotations

import types

import torch

from grader.harness import worker as worker_module
from grader.harness.worker import Worker

FAULT = "CUDA error: an illegal memory access was encountered"


def _worker(events: list[str], monkeypatch, fault: bool) -> Worker:
    def synchronize() -> None:
        events.append("synchronize")
        if fault:
            raise RuntimeError(FAULT)

    monkeypatch.setattr(worker_module.torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(worker_module.torch.cuda, "synchronize", synchronize)

    def transpose(x: torch.Tensor) -> torch.Tensor:
        events.append("launch")
        return x.t().contiguous()

    w = Worker(conn=None)
    w.module = types.SimpleNamespace(transpose=transpose)
    export = w.export
    monkeypatch.setattr(w, "export", lambda v: (events.append("export"), export(v))[1])
    return w


def test_the_worker_waits_for_the_gpu_before_an_output_leaves(monkeypatch):
    events: list[str] = []
    kind, out = _worker(events, monkeypatch, fault=False).handle(
        ("call", ("module", "transpose"), (torch.ones(2, 3),), {})
    )
    assert kind == "ok" and out.shape == (3, 2)
    assert events == ["launch", "synchronize", "export"]


def test_a_fault_found_by_the_wait_is_the_calls_error_and_no_output_leaves(monkeypatch):
    events: list[str] = []
    kind, info = _worker(events, monkeypatch, fault=True).handle(
        ("call", ("module", "transpose"), (torch.ones(2, 3),), {})
    )
    assert kind == "raised" and info["cuda_fault"] and FAULT in info["message"]
    assert "export" not in events
