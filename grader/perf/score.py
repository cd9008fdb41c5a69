"""The parent's side of a benchmark: from the driver's raw samples to medians, fractions of the
baseline, tiers and a confidence interval, computed here and nowhere else. A record that does
not have the expected shape, or a result faster than the roofline allows, becomes a verdict."""

from __future__ import annotations

import importlib
import math
import statistics
from typing import Any

from grader.problem.spec import TIERS, Perf, Problem
from grader.runtime.timing import ratio_ci, stderr_pct

STATUSES = ("measured", "needs_gpu", "error", "failed", "crashed", "not_attempted", "timeout")
# fractions of the baseline no implementation can reach; custom: the bare collectives it must do
IMPOSSIBLE = {"bandwidth": 1.15, "tflops": 2.0, "custom": 2.0}


class BadRecord(ValueError):
    """The driver's record is not what the parent accepts; str() says how."""


def score(
    problem: Problem, perf: Perf | None, raw: dict[str, Any], peers: bool = False
) -> dict[str, Any]:
    status = raw.get("status")
    if status not in STATUSES:
        raise BadRecord(f"unknown status {status!r}")
    if status != "measured":
        return {"status": status, "message": str(raw.get("message", ""))[:2000]}
    if perf is None:
        raise BadRecord("a measurement for a machine that cannot measure this problem")
    head = {
        "status": "measured",
        "device": str(raw.get("device", "")),
        "metric": perf.metric,
        "baseline": perf.baseline,
        "bars": perf.bars,
    }
    if perf.metric == "custom":  # its baseline is the peer (NCCL), measured by the problem
        custom = _custom(problem, perf, raw.get("custom"))
        return {**head, **custom, **({"peers": []} if peers else {})}
    cases = [_case(problem, perf, row) for row in _rows(raw.get("cases"), len(perf.cases))]
    worst = min(cases, key=lambda c: c["fraction"])
    result = {**head, "cases": cases, "fraction": worst["fraction"], "tier": worst["tier"]}
    if any(c.get("uncertain") for c in cases):
        result["uncertain"] = True
    extra = raw.get("extra") or {}
    if not isinstance(extra, dict):
        raise BadRecord("extra is not a table")
    cap = extra.pop("tier_cap", "none")
    if extra:
        result["extra"] = extra
    result["tier"] = _cap(result["tier"], cap)
    if peers:
        result["peers"] = _peers(problem, perf, raw.get("peers"))
        result["versus_peers"] = _versus(cases, result["peers"])
    return result


def _rows(rows: Any, n: int) -> list[dict]:
    if not (isinstance(rows, list) and len(rows) == n and all(isinstance(r, dict) for r in rows)):
        raise BadRecord(f"expected {n} benchmark cases")
    return rows


def _case(problem: Problem, perf: Perf, row: dict) -> dict[str, Any]:
    xs = _samples(row.get("samples_ms"), "samples_ms")
    ref = importlib.import_module(f"reference.{problem.slug}")
    cost = ref.cost(row["case"]) if isinstance(row.get("case"), dict) else {}
    out: dict[str, Any] = {"case": row.get("case"), **_stats(xs)}
    if perf.metric == "speedup":
        ys = _samples(row.get("baseline_samples_ms"), "baseline_samples_ms")
        charge = _transfer_charge(row.get("transfer_ms"), len(xs))
        xs = [x + charge for x in xs]
        out.update(median_ms=statistics.median(xs), min_ms=min(xs), transfer_charge_ms=charge)
        mid, lo, hi = ratio_ci(xs, ys)
        base = 1e3 / statistics.median(ys)  # the reference's calls/s
        out.update(achieved=1e3 / out["median_ms"], unit="calls/s", baseline_value=base)
        out.update(fraction=mid, ci95=[lo, hi])
        out["tier"] = perf.tier(lo) if perf.tier(lo) != perf.tier(hi) else perf.tier(mid)
        out["uncertain"] = perf.tier(lo) != perf.tier(hi)
        return out
    base = row.get("baseline_value")
    if not isinstance(base, float) or not base > 0:
        raise BadRecord("no baseline measured")
    work, unit = (cost["bytes"], "B/s") if perf.metric == "bandwidth" else (cost["flops"], "FLOP/s")
    achieved = work / (out["median_ms"] * 1e-3)
    out.update(achieved=achieved, unit=unit, baseline_value=base, fraction=achieved / base)
    if out["fraction"] > IMPOSSIBLE[perf.metric]:
        raise AssertionError(
            f"impossible result: {out['fraction']:.2f}x the {perf.baseline} baseline (faster "
            "than the roofline floor): the timed work did not all run in the timed region"
        )
    out["tier"] = perf.tier(out["fraction"])
    return out


def _transfer_charge(transfer: Any, n: int) -> float:
    """The implementation's time to receive its inputs and send its output, beyond the
    reference's on the same data: zero for an honest worker, and work moved out of the timed
    request (computing at staging, or lazily at fetch) is added back onto every sample. Paired
    by sample (both sides moved the same data back to back) and summed over stage and fetch
    before the median, so a load spike on either side, in either leg, is one outlier among
    the pairs, not a charge."""
    if not isinstance(transfer, dict):
        raise BadRecord("a CPU measurement without its transfer times")
    totals = {}
    for side in ("impl", "ref"):
        pair = transfer.get(side)
        if not (isinstance(pair, list) and len(pair) == 2):
            raise BadRecord(f"transfer_ms.{side} is not [stage, fetch]")
        stage, fetch = (_samples(t, f"transfer_ms.{side}") for t in pair)
        if len(stage) != n or len(fetch) != n:
            raise BadRecord(f"transfer_ms.{side} does not have one time per sample")
        totals[side] = [s + f for s, f in zip(stage, fetch)]
    excess = [i - r for i, r in zip(totals["impl"], totals["ref"])]
    return max(0.0, statistics.median(excess))


PEER_STATUSES = (
    "measured",
    "inexact",  # timed, but outside the problem's tolerance (within grader.perf.bench's factor)
    "not_installed",
    "not_here",
    "failed",
    "error",
    "crashed",
    "not_attempted",
)


TIMED = ("measured", "inexact")  # peer statuses that carry times (inexact: see bench.py)


def _peers(problem: Problem, perf: Perf, rows: Any) -> list[dict[str, Any]]:
    """Every declared peer, in declaration order, scored like the implementation."""
    names = [r.get("name") for r in rows] if isinstance(rows, list) else None
    if names != list(problem.peers) or not all(isinstance(r, dict) for r in rows):
        raise BadRecord(f"expected the peers {', '.join(problem.peers) or '(none)'}")
    return [_peer(problem, perf, row) for row in rows]


def _peer(problem: Problem, perf: Perf, row: dict) -> dict[str, Any]:
    peer = problem.peers[row["name"]]
    head = {"name": peer.name, "label": peer.label, "status": row.get("status")}
    if head["status"] not in PEER_STATUSES:
        raise BadRecord(f"peer {peer.name}: unknown status {head['status']!r}")
    if head["status"] not in TIMED:
        return {**head, "message": str(row.get("message", ""))[:2000]}
    if row.get("message"):  # inexact, or a case it could not run
        head["message"] = str(row["message"])[:2000]
    rows = _rows(row.get("cases"), len(perf.cases))
    if [r.get("case") for r in rows] != list(perf.cases):
        raise BadRecord(f"peer {peer.name}: cases other than [perf.{perf.device}] cases")
    try:
        cases = [_peer_case(problem, perf, r) for r in rows]
    except AssertionError as e:  # faster than the roofline: its timed region missed work
        return {**head, "status": "failed", "message": str(e)}
    timed = [c for c in cases if "fraction" in c]
    if not timed:
        raise BadRecord(f"peer {peer.name}: {head['status']} without a timed case")
    worst = min(timed, key=lambda c: c["fraction"])
    return {**head, "cases": cases, "fraction": worst["fraction"], "tier": worst["tier"]}


def _peer_case(problem: Problem, perf: Perf, row: dict) -> dict[str, Any]:
    """A timed case scored like the implementation's, or a case the peer could not run."""
    if row.get("status") == "error":
        return {"case": row["case"], "status": "error", "message": str(row.get("message"))[:1000]}
    return _case(problem, perf, row)


def _versus(cases: list[dict], peers: list[dict]) -> list[dict[str, Any]]:
    """Per case: the best measured peer, and the implementation's fraction over its."""
    out = []
    for i, case in enumerate(cases):
        timed = [
            (p["cases"][i]["fraction"], p["name"])
            for p in peers
            if p["status"] in TIMED and "fraction" in p["cases"][i]
        ]
        best = max(timed, default=None)
        row = {"case": case["case"], "best_peer": best and best[1]}
        if best:
            row.update(best_fraction=best[0], ratio=case["fraction"] / best[0])
        out.append(row)
    return out


def _samples(xs: Any, name: str) -> list[float]:
    ok = isinstance(xs, list) and xs and all(isinstance(x, float) and x > 0 for x in xs)
    if not ok or any(math.isinf(x) for x in xs):
        raise BadRecord(f"{name} is not a list of positive times")
    return xs


def _custom(problem: Problem, perf: Perf, custom: Any) -> dict[str, Any]:
    """A problem that times itself (ep_all_to_all: ranks over NCCL) sends raw samples only:
    the implementation's, its baseline's (the bare collectives of the same volume) and,
    optionally, a whole layer's. Medians, fractions and tiers are computed here."""
    if not isinstance(custom, dict):
        raise BadRecord("a custom measurement without cases")
    cases = [
        _custom_case(problem, perf, row) for row in _rows(custom.get("cases"), len(perf.cases))
    ]
    worst = min(cases, key=lambda r: r["fraction"])
    return {"cases": cases, "fraction": worst["fraction"], "tier": worst["tier"]}


def _custom_case(problem: Problem, perf: Perf, row: dict) -> dict[str, Any]:
    xs = _samples(row.get("samples_ms"), "samples_ms")
    ys = _samples(row.get("baseline_samples_ms"), "baseline_samples_ms")
    out: dict[str, Any] = {"case": row.get("case"), **_stats(xs)}
    out.update(baseline_ms=statistics.median(ys), baseline_stderr_pct=_stats(ys)["stderr_pct"])
    out["fraction"] = out["baseline_ms"] / out["median_ms"]
    if out["fraction"] > IMPOSSIBLE["custom"]:
        raise AssertionError(
            f"impossible result: {out['fraction']:.2f}x the {perf.baseline} baseline, which "
            "moves the same bytes with bare collectives: the timed work did not all run"
        )
    if "layer_samples_ms" in row:
        zs = _samples(row["layer_samples_ms"], "layer_samples_ms")
        out.update(
            layer_ms=statistics.median(zs), comm_share=out["baseline_ms"] / statistics.median(zs)
        )
    ref = importlib.import_module(f"reference.{problem.slug}")
    if isinstance(row.get("case"), dict) and hasattr(ref, "cost"):
        moved = ref.cost(row["case"])["bytes"]
        out.update(bytes_per_rank=moved, baseline_GBps_per_rank=moved / (out["baseline_ms"] * 1e6))
    out["tier"] = perf.tier(out["fraction"])
    return out


def _stats(xs: list[float]) -> dict[str, Any]:
    return {
        "median_ms": statistics.median(xs),
        "samples": len(xs),
        "stderr_pct": round(stderr_pct(xs), 3) if len(xs) > 1 else None,
        "min_ms": min(xs),
    }


def _cap(tier: str | None, cap: Any) -> str | None:
    if cap == "none" or tier is None:
        return tier
    if cap not in TIERS:
        return None
    return TIERS[min(TIERS.index(tier), TIERS.index(cap))]
