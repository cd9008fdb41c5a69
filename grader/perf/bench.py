"""The bench worker (`python -m grader.perf.bench SLUG IMPL OUT.json`), run in a fresh process:
checks the benchmark inputs, times the implementation, measures the baseline in the same run,
and writes fractions of that baseline with the tier reached."""

from __future__ import annotations

import importlib
import json
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.runtime.device import best_device, enable_interpreter_if_no_gpu

enable_interpreter_if_no_gpu()  # before anything below can import triton

import torch  # noqa: E402

from grader.harness.hooks import Hooks, hooks_for  # noqa: E402
from grader.problem.impls import load, resolve  # noqa: E402
from grader.problem.registry import get_problem  # noqa: E402
from grader.problem.spec import TIERS, Perf, Problem  # noqa: E402
from grader.runtime import timing  # noqa: E402
from grader.runtime.cuda import CUDA_FAULT  # noqa: E402
from grader.runtime.errors import ImplLoadError  # noqa: E402

POOL = 3  # distinct inputs rotated through the timed samples
IMPOSSIBLE = {"bandwidth": 1.15, "tflops": 2.0}  # fractions of the baseline no kernel can reach


def choose_perf(problem: Problem) -> Perf | None:
    device = best_device(problem.perf)
    return problem.perf[device] if device else None


def measure(problem: Problem, module: types.ModuleType) -> dict[str, Any]:
    perf = choose_perf(problem)
    if perf is None:
        need = "2+ CUDA GPUs" if "multi_gpu" in problem.perf else "a CUDA GPU"
        return {"status": "needs_gpu", "message": f"perf is measured on {need}"}
    ref = importlib.import_module(f"reference.{problem.slug}")
    hooks = hooks_for(problem)
    if perf.metric == "custom":  # the problem times itself (multi-process, traces, ...)
        result = hooks.bench_custom(module, perf)
        return {
            "status": "measured",
            "device": _device_name(perf),
            "metric": perf.metric,
            "baseline": perf.baseline,
            "bars": perf.bars,
            **result,
        }
    target, baseline_fn = hooks.bench_target(module, perf), hooks.bench_target(ref, perf)
    cases = [_case(hooks, perf, ref, target, baseline_fn, c) for c in perf.cases]
    worst = min(cases, key=lambda c: c["fraction"])
    tier = worst["tier"]
    result = {
        "status": "measured",
        "device": _device_name(perf),
        "metric": perf.metric,
        "baseline": perf.baseline,
        "bars": perf.bars,
        "cases": cases,
        "fraction": worst["fraction"],
        "tier": tier,
    }
    extra = hooks.bench_extra(module, perf)
    if extra:
        cap = extra.pop("tier_cap", "none")
        result["extra"] = extra
        result["tier"] = _cap(tier, cap)
    return result


def _case(
    hooks: Hooks,
    perf: Perf,
    ref: types.ModuleType,
    target: Callable,
    baseline_fn: Callable,
    case: dict,
) -> dict[str, Any]:
    on_gpu = perf.device != "cpu"
    gen = torch.Generator(device="cuda" if on_gpu else "cpu")
    pool = [ref.make_inputs(case, gen.manual_seed(1000 + i)) for i in range(POOL)]
    expected = [baseline_fn(**p) for p in pool]
    verify = lambda i, out: hooks.compare(out, expected[i % POOL], pool[i % POOL])  # noqa: E731
    run = lambda i: target(**pool[i % POOL])  # noqa: E731
    verify(0, run(0))  # obligatory correctness check on the benchmark inputs
    base_run = lambda i: baseline_fn(**pool[i % POOL])  # noqa: E731
    base_t = None
    if on_gpu:
        for i in range(3):
            run(i)  # JIT compilation, autotuning and allocator warm-up stay out of the samples
        t = timing.time_gpu(run, perf.budget_s, check=verify)
    elif perf.metric == "speedup":  # interleaved, so both see the same machine load
        t, base_t = timing.time_cpu_pair(run, base_run, perf.budget_s)
    else:
        t = timing.time_cpu(run, perf.budget_s)
    row = {"case": case, **t.to_json()}
    row.update(_score(hooks, perf, ref, case, t, base_t))
    return row


def _score(
    hooks: Hooks,
    perf: Perf,
    ref: types.ModuleType,
    case: dict,
    t: timing.Timing,
    base_t: timing.Timing | None,
) -> dict[str, Any]:
    cost = ref.cost(case)
    seconds = t.median_ms * 1e-3
    if perf.metric == "bandwidth":
        base = _copy_bw()
        achieved, unit = cost["bytes"] / seconds, "B/s"
    elif perf.metric == "tflops":
        m, n, k, dtype = hooks.baseline_gemm(case)
        base = timing.cublas_flops(m, n, k, dtype)
        achieved, unit = cost["flops"] / seconds, "FLOP/s"
    else:  # speedup over the reference, timed here on the same inputs
        base = 1.0 / (base_t.median_ms * 1e-3)
        achieved, unit = 1.0 / seconds, "calls/s"
    fraction = achieved / base
    row = {
        "achieved": achieved,
        "unit": unit,
        "baseline_value": base,
        "fraction": fraction,
        "tier": perf.tier(fraction),
    }
    limit = IMPOSSIBLE.get(perf.metric)
    if limit is not None and fraction > limit:
        raise AssertionError(
            f"impossible result: {fraction:.2f}x the {perf.baseline} baseline "
            "(faster than the roofline floor): the timed work did not all run "
            "in the timed region"
        )
    if t.host_ratio is not None and t.host_ratio < 0.5:
        raise AssertionError(
            f"the CUDA events saw {t.host_ratio:.0%} of the host-clock time: "
            "work escaped the current stream; run every kernel on it"
        )
    return row


_COPY: list[float] = []


def _copy_bw() -> float:
    if not _COPY:
        _COPY.append(timing.copy_bandwidth())
    return _COPY[0]


def _cap(tier: str | None, cap: str | None) -> str | None:
    if cap == "none" or tier is None:
        return tier
    if cap is None:
        return None
    return TIERS[min(TIERS.index(tier), TIERS.index(cap))]


def _device_name(perf: Perf) -> str:
    if perf.device == "cpu":
        return "cpu"
    return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name()}"


def main(slug: str, spec: str, out: str) -> None:
    problem = get_problem(slug)
    try:
        module = load(problem, resolve(problem, spec))
        result = measure(problem, module)
    except ImplLoadError as e:
        result = {"status": "error", "message": str(e)}
    except NotImplementedError as e:
        result = {"status": "not_attempted", "message": str(e) or "not attempted yet"}
    except AssertionError as e:
        result = {"status": "failed", "message": str(e)}
    except Exception as e:  # noqa: BLE001 - the attempt's exception is a verdict, not a crash
        crash = CUDA_FAULT.search(str(e)) is not None
        where = traceback.extract_tb(e.__traceback__)[-1]
        result = {
            "status": "crashed" if crash else "error",
            "message": f"{type(e).__name__}: {str(e).strip()[:300]} "
            f"({Path(where.filename).name}:{where.lineno})",
        }
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
