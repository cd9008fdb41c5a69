"""One-call sweep of ep_all_to_all's exchange on 2 GPUs (NCCL, one rank per GPU, NVLink multicast
off): the bench's baseline, the shipped default and every _fast variant, timed on the bench case.

Per candidate: its output checked first (equal to the default's, within the problem's tolerance
of the reference, every expert run on its owner, every routed row processed once), then its
samples taken with the bench's own recipe (problems/ep_all_to_all/hooks.py _time_ranks: each
sample after a barrier, slowest rank, CUDA events), in ROUNDS interleaved rounds, and once with
the bench's SwiGLU experts (the layer). Also on rank 0: a per-stage breakdown of the default
(CUDA events and host clocks between its steps) and what one expert_fn call costs. The row
"wire_only" is the baseline with each rank's own rows left out (what the local variants send).

Writes $OUT/ep_sweep.json and prints a table, best first. Run from the repository root:
    NCCL_NVLS_ENABLE=0 PYTHONPATH=$PWD OUT=/tmp/out python3 scripts/gpu_ep_sweep.py
--cpu: the same steps on 2 gloo ranks with a small case (a dry run; its times mean nothing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from grader.harness.compare import assert_close  # noqa: E402
from grader.problem.registry import get_problem  # noqa: E402
from grader.runtime.ranks import Ranks  # noqa: E402
from reference import ep_all_to_all as ref  # noqa: E402
from solutions.ep_all_to_all import _fast  # noqa: E402
from solutions.ep_all_to_all import torch as sol  # noqa: E402

BENCH = {"W": 2, "T": 4096, "H": 4096, "E": 16, "k": 2, "F": 1408, "dtype": "bfloat16"}
DRY = {"W": 2, "T": 64, "H": 96, "E": 16, "k": 2, "F": 32, "dtype": "bfloat16"}
ROUNDS, BUDGET_S, STAGE_RUNS = 3, 1.0, 30
CANDIDATES = ["default", *_fast.VARIANTS]


def _hooks():
    spec = importlib.util.spec_from_file_location(
        "ep_hooks", ROOT / "problems/ep_all_to_all/hooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _use(name: str):
    sol.VARIANT = name
    return sol.ep_moe


def _wire_only(inputs: dict, W: int):
    """The baseline's two all_to_all_single calls with this rank's own rows left out."""
    rank, x = dist.get_rank(), inputs["x"]
    _, counts = ref.dispatch_plan(inputs["ids"], inputs["num_experts"], W)
    counts[rank] = 0
    got = torch.empty_like(counts)
    dist.all_to_all_single(got, counts)
    ss, rs = counts.tolist(), got.tolist()
    send = x.new_empty((sum(ss), x.shape[1]))  # (T*k - own, H)
    recv, back = x.new_empty((sum(rs), x.shape[1])), torch.empty_like(send)

    def call() -> None:
        dist.all_to_all_single(recv, send, rs, ss)
        dist.all_to_all_single(back, recv, ss, rs)

    return call


def _check(name: str, inputs: dict, want: torch.Tensor, case: dict, double) -> dict:
    """The candidate's output against the default's and the reference's; owners and rows."""
    rank, L = dist.get_rank(), case["E"] // case["W"]
    rows = [0]

    def owned(e: int, x: torch.Tensor) -> torch.Tensor:
        if e // L != rank:
            raise AssertionError(f"{name}: expert {e} ran on rank {rank}")
        rows[0] += x.shape[0]
        return double(e, x)

    got = _use(name)(**inputs, expert_fn=owned)
    n = torch.tensor([rows[0], inputs["ids"].numel()], device=got.device)
    dist.all_reduce(n)
    assert int(n[0]) == int(n[1]), f"{name}: {int(n[0])} rows processed for {int(n[1])} slots"
    expect = ref.ep_moe(**inputs, expert_fn=double)
    assert_close(got, expect, get_problem(ref.SLUG).tol(case["dtype"]), name=f"{name} output")
    diff = (got.float() - want.float()).abs().max().item() if got.numel() else 0.0
    return {"equal_to_default": bool(torch.equal(got, want)), "max_abs_diff": diff}


def _summary(xs: list[float]) -> dict:
    return {"median_ms": statistics.median(xs), "min_ms": min(xs), "samples": len(xs)}


def _inputs(case: dict, device: str) -> dict:
    gen = torch.Generator(torch.device(device)).manual_seed(1000 + dist.get_rank())  # as bench
    return ref.make_inputs({**case, "routing": "uniform"}, gen)


def _rank_checks(case: dict, device: str) -> dict:
    """Each candidate's output checks; a failure on any rank drops it on every rank (the ranks
    must agree on what they go on to time)."""
    hooks, inputs = _hooks(), _inputs(case, device)
    want = _use("default")(**inputs, expert_fn=hooks._double)
    checks = {}
    for n in CANDIDATES:
        try:
            checks[n] = _check(n, inputs, want, case, hooks._double)
        except Exception as e:  # noqa: BLE001 - reported, and the candidate is not timed
            checks[n] = {"error": f"rank {dist.get_rank()}: {type(e).__name__}: {e}"[:500]}
        failed = torch.tensor([float("error" in checks[n])], device=device)
        dist.all_reduce(failed)
        checks[n]["ok"] = not float(failed)
    _use("default")
    return checks


def _rank_times(case: dict, device: str, good: list[str]) -> dict:
    """The samples (rank 0's view of the slowest rank), the stages and the expert_fn cost."""
    hooks, W, rank, inputs = _hooks(), dist.get_world_size(), dist.get_rank(), _inputs(case, device)
    first, L = rank * case["E"] // W, case["E"] // W
    experts = hooks.SwiGLUExperts(
        first, L, case["H"], case["F"], inputs["x"].dtype, device, seed=first
    )
    calls = {
        "baseline": hooks._plain_all_to_all(inputs, W),
        "wire_only": _wire_only(inputs, W),
        **{n: _bound(n, inputs, hooks._double) for n in good},
    }
    samples: dict[str, list[float]] = {n: [] for n in calls}
    for _ in range(ROUNDS):  # interleaved: drift and clocks hit every candidate alike
        for n, call in calls.items():
            samples[n] += hooks._time_ranks(call, BUDGET_S / ROUNDS, device)
    layer = {n: hooks._time_ranks(_bound(n, inputs, experts), BUDGET_S, device) for n in good}
    rows = {
        n: _summary(samples[n]) | {"host_issue_ms": _host_issue(c, device)}
        for n, c in calls.items()
    }
    base = rows["baseline"]["median_ms"]
    for n in good:
        rows[n]["fraction"] = base / rows[n]["median_ms"]
        rows[n]["layer_ms"] = statistics.median(layer[n])
        rows[n]["comm_share"] = base / rows[n]["layer_ms"]
    _use("default")
    extra = _stages(inputs, hooks._double, device)
    extra |= _expert_cost(inputs, hooks._double, case, device)
    return {"rows": rows, **extra}


def _host_issue(call, device: str, runs: int = 10) -> float:
    """Median host time from the call to its return (GPU work may still be queued): near the
    sample time means the host, not the GPU, sets the pace."""
    xs = []
    for _ in range(runs):
        dist.barrier()
        _sync(device)
        t0 = time.perf_counter()
        call()
        xs.append((time.perf_counter() - t0) * 1e3)
        _sync(device)
    return statistics.median(xs)


def _bound(name: str, inputs: dict, expert_fn):
    def call():
        return _use(name)(**inputs, expert_fn=expert_fn)

    return call


def _stages(inputs: dict, expert_fn, device: str) -> dict:
    """The default's steps one by one (the same calls as solutions/ep_all_to_all/torch.py),
    CUDA events and host clocks between them; medians over STAGE_RUNS runs, rank 0's view.
    On the CPU (dry run) the host clocks stand in for the events."""
    gpu, host = {}, {}
    for _ in range(STAGE_RUNS):
        dist.barrier()
        _sync(device)
        marks = _staged_default(**inputs, expert_fn=expert_fn)
        _sync(device)
        for (n, ev, t), (_, ev0, t0) in zip(marks[1:], marks[:-1]):
            ms = (t - t0) * 1e3
            gpu.setdefault(n, []).append(ms if ev is None else ev0.elapsed_time(ev))
            host.setdefault(n, []).append(ms)
    total = [sum(v[i] for v in gpu.values()) for i in range(STAGE_RUNS)]
    return {
        "stages_ms": {n: statistics.median(v) for n, v in gpu.items()},
        "stages_host_ms": {n: statistics.median(v) for n, v in host.items()},
        "stages_total_ms": statistics.median(total),
    }


def _staged_default(x, ids, weights, expert_fn, num_experts):
    marks = []

    def mark(name: str) -> None:
        marks.append((name, _event(x.device.type), time.perf_counter()))

    W, rank = dist.get_world_size(), dist.get_rank()
    k, L = ids.shape[1], num_experts // W
    mark("start")
    order = torch.argsort(ids.reshape(-1), stable=True)
    counts = torch.bincount(ids.reshape(-1), minlength=num_experts)  # syncs twice on CUDA
    mark("argsort + bincount")
    recv_counts = torch.empty_like(counts)
    dist.all_to_all_single(recv_counts, counts)
    host = torch.cat([counts, recv_counts]).tolist()
    mark("counts all_to_all + host sync")
    send_splits = [sum(host[d * L : (d + 1) * L]) for d in range(W)]
    from_src = [host[num_experts + s * L : num_experts + (s + 1) * L] for s in range(W)]
    recv_splits = [sum(row) for row in from_src]
    send = x.index_select(0, order // k)
    mark("gather")
    recv = x.new_empty((sum(recv_splits), x.shape[1]))
    dist.all_to_all_single(recv, send, recv_splits, send_splits)
    mark("dispatch all_to_all")
    outs, at = [], 0
    for row in from_src:
        for local, n in enumerate(row):
            if n:
                outs.append(expert_fn(rank * L + local, recv[at : at + n]))
            at += n
    mark(f"experts ({len(outs)} calls)")
    y = torch.cat(outs) if len(outs) > 1 else outs[0]
    mark("cat")
    back = torch.empty_like(send)
    dist.all_to_all_single(back, y, send_splits, recv_splits)
    mark("return all_to_all")
    sol.combine(back, order, weights)
    mark("combine")
    return marks


def _expert_cost(inputs: dict, expert_fn, case: dict, device: str) -> dict:
    """One expert_fn call: host time per call (launch included) and device time, for the
    default's (source, expert) pieces and for one call per expert on the same rows."""
    x = inputs["x"]
    R = inputs["ids"].numel()  # about what a rank receives under uniform routing
    rows = x.repeat(R // max(1, x.shape[0]), 1)[:R]  # (R, H)
    W, L = case["W"], case["E"] // case["W"]
    out = {}
    for pieces in (W * L, L, 1):
        step = -(-R // pieces)
        views = [rows[i : i + step] for i in range(0, R, step)]
        _sync(device)
        t0 = time.perf_counter()
        start = _event(device)
        for _ in range(10):
            for v in views:
                expert_fn(0, v)
        t1 = time.perf_counter()
        end = _event(device)
        _sync(device)
        dev_ms = start.elapsed_time(end) / 10 if start is not None else None
        out[f"{pieces}_calls"] = {
            "host_us_per_call": (t1 - t0) * 1e6 / (10 * len(views)),
            "device_ms_all_calls": dev_ms,
        }
    return {"expert_fn_cost": out}


def _event(device: str):
    if device == "cpu":
        return None
    ev = torch.cuda.Event(enable_timing=True)
    ev.record()
    return ev


def _sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def main() -> None:
    cpu = "--cpu" in sys.argv
    case, device = (DRY, "cpu") if cpu else (BENCH, "cuda")
    started = time.perf_counter()
    with Ranks(case["W"], backend="gloo" if cpu else "nccl", timeout_s=60.0) as ranks:
        checks = ranks.run(_rank_checks, case, device, timeout_s=60.0)
        good = [n for n in CANDIDATES if checks[0][n]["ok"]]
        got = ranks.run(_rank_times, case, device, good, timeout_s=110.0)[0]
    for n in CANDIDATES:  # the checks, over both ranks
        seen = [c[n] for c in checks]
        errors = [c["error"] for c in seen if "error" in c]
        got["rows"].setdefault(n, {}).update(
            ok=checks[0][n]["ok"],
            equal_to_default=all(c.get("equal_to_default") for c in seen),
            max_abs_diff=max(c.get("max_abs_diff", float("nan")) for c in seen),
            **({"error": errors[0]} if errors else {}),
        )
    got |= {
        "case": case,
        "device": "cpu (dry run)" if cpu else torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "nccl": None if cpu else _nccl_version(),
        "wall_s": time.perf_counter() - started,
    }
    out = Path(os.environ.get("OUT", ".")) / "ep_sweep.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(got, indent=1))
    _print(got)
    print(f"wrote {out} in {got['wall_s']:.0f} s")


def _nccl_version() -> str:
    v = torch.cuda.nccl.version()  # a tuple in recent PyTorch, an int in older ones
    return ".".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _print(got: dict) -> None:
    rows = sorted(got["rows"].items(), key=lambda kv: kv[1].get("median_ms", float("inf")))
    print(
        f"{'candidate':<16}{'median ms':>10}{'min ms':>9}{'host ms':>9}{'fraction':>9}"
        f"{'layer ms':>9}  equal"
    )
    for n, r in rows:
        if "median_ms" not in r:
            print(f"{n:<16}not timed: {str(r.get('error')).splitlines()[0]}")
            continue
        frac, layer = r.get("fraction"), r.get("layer_ms")
        frac = "" if frac is None else f"{frac:.3f}"
        layer = "" if layer is None else f"{layer:.3f}"
        print(
            f"{n:<16}{r['median_ms']:>10.4f}{r['min_ms']:>9.4f}{r['host_issue_ms']:>9.4f}"
            f"{frac:>9}{layer:>9}"
            f"  {r.get('equal_to_default', '')}"
        )
    timed = [(n, r) for n, r in rows if "fraction" in r]
    if timed:
        n, r = max(timed, key=lambda nr: nr[1]["fraction"])
        print(f"best: {n} at {r['fraction']:.3f} of the baseline (bars 0.5 / 0.7 / 0.85)")
    for n, ms in got.get("stages_ms", {}).items():
        print(f"  default stage {n:<32}{ms:8.4f} ms (host {got['stages_host_ms'][n]:.4f} ms)")
    if "stages_total_ms" in got:
        print(f"  default stages total {got['stages_total_ms']:.4f} ms")
    for n, c in got["expert_fn_cost"].items():
        dev = c["device_ms_all_calls"]
        dev = "n/a" if dev is None else f"{dev:.4f} ms"
        print(f"  expert_fn as {n}: {c['host_us_per_call']:.1f} us host per call; device {dev}")


if __name__ == "__main__":
    main()
