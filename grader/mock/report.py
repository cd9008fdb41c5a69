"""A session's report as one JSON-ready dict (schema-versioned), with the scores computed on
the stated rubric, and the same report as terminal text and as Markdown."""

from __future__ import annotations

import time
from typing import Any

from grader.mock import clock
from grader.mock.session import ItemState, Session

SCHEMA = 1
HINT_COST = 5  # points off a coding item's score per hint taken
TIER_POINTS = {"bronze": 20, "silver": 30, "gold": 40}  # as grader.perf.grade scores tiers
WEIGHTS = {"correctness": 35, "performance": 15, "concepts": 30, "time": 20}
RUBRIC = {
    "correctness": "share of coding items whose best submit passed every check",
    "performance": "perf tier points (bronze 20, silver 30, gold 40) out of 40, over the "
    "passed items this machine could time",
    "concepts": "key points covered out of the rubric's, averaged over questions (unanswered: 0)",
    "time": "per item min(1, budget / time used), averaged (not reached: 0)",
    "overall": "weighted mean of the dimensions scored (correctness 35, performance 15, "
    "concepts 30, time 20); a dimension this session could not score is left out",
    "hints": f"each hint costs {HINT_COST} points off that coding item's score",
}


def _best(st: ItemState):
    scored = [x for x in st.submits if x.score is not None]
    if scored:
        return max(scored, key=lambda x: (x.score, x.at_s))
    return st.submits[-1] if st.submits else None


def item_row(s: Session, i: int, now: float) -> dict[str, Any]:
    st, used = s.items[i], s.item_used(i, now)
    row = {
        "kind": st.item.kind,
        "ref": st.item.ref,
        "title": st.item.title,
        "topic": st.item.topic,
        "budget_s": st.item.budget_s,
        "used_s": round(used, 1),
        "reached": st.start_active is not None,
        "timed_out": st.timed_out or used > st.item.budget_s,
        "hints": st.hints,
    }
    if st.item.kind == "coding":
        best = _best(st)
        raw = None if best is None else best.score
        row |= {
            "submits": len(st.submits),
            "verdict": best.verdict if best else "not_submitted",
            "tier": best.tier if best else None,
            "measured": bool(best and best.measured),
            "snapshot": best.snapshot if best else None,
            "score": 0
            if best is None
            else None
            if raw is None
            else max(0, raw - HINT_COST * st.hints),
        }
    else:
        n = len(st.points)
        row |= {
            "answered": st.answer is not None,
            "hit": [st.points[k] for k in st.hits],
            "missed": [p for k, p in enumerate(st.points) if k not in st.hits],
            "score": round(100 * len(st.hits) / n) if n else 0,
        }
    return row


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def dimensions(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    coding = [r for r in rows if r["kind"] == "coding" and r["verdict"] != "needs_gpu"]
    timed = [r for r in coding if r["verdict"] == "passed" and r["measured"]]
    concept = [r for r in rows if r["kind"] == "concept"]
    dims = {
        "correctness": _mean([100.0 * (r["verdict"] == "passed") for r in coding]),
        "performance": _mean([100.0 * TIER_POINTS.get(r["tier"], 0) / 40 for r in timed]),
        "concepts": _mean([float(r["score"]) for r in concept]),
        "time": _mean(
            [
                100.0 * min(1.0, r["budget_s"] / r["used_s"])
                if r["reached"] and r["used_s"]
                else 0.0
                for r in rows
            ]
        ),
    }
    scored = {k: v for k, v in dims.items() if v is not None}
    weight = sum(WEIGHTS[k] for k in scored)
    dims["overall"] = (
        round(sum(WEIGHTS[k] * v for k, v in scored.items()) / weight, 1) if weight else None
    )
    return dims


def study(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What to study next: missed key points and coding items that did not pass, with links."""
    out = []
    for r in rows:
        see = f"questions/{r['topic']}/{r['ref']}.md"
        if r["kind"] == "concept" and not r["answered"]:
            out.append({"ref": r["ref"], "what": f"{r['title']} (not answered)", "see": see})
        elif r["kind"] == "concept":
            out += [{"ref": r["ref"], "what": p, "see": see} for p in r["missed"]]
        elif r["kind"] == "coding" and r["verdict"] != "passed":
            out.append(
                {
                    "ref": r["ref"],
                    "what": f"{r['title']}: {r['verdict'].replace('_', ' ')}",
                    "see": f"problems/{r['ref']}/README.md · dojo hint {r['ref']}",
                }
            )
    return out


def build(s: Session, now: float) -> dict[str, Any]:
    rows = [item_row(s, i, now) for i in range(len(s.items))]
    active = s.active(now)
    return {
        "schema": SCHEMA,
        "session": s.id,
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at)),
        "minutes": s.minutes,
        "seed": s.seed,
        "strict": s.strict,
        "ended": not s.running,
        "active_s": round(active, 1),
        "paused_s": round(s.paused_s, 1),
        "overrun_s": round(max(0.0, active - s.total_s), 1),
        "timed_out": s.timed_out_at is not None,
        "items": rows,
        "dimensions": dimensions(rows),
        "rubric": RUBRIC,
        "study": study(rows),
        "quiz_cards": list(s.handed_off),
    }


def _result(r: dict[str, Any]) -> str:
    if r["kind"] == "coding":
        if not r["submits"]:
            return "not submitted"
        tier = f" {r['tier']}" if r["tier"] else ""
        score = "" if r["score"] is None else f" {r['score']}/100"
        n = r["submits"]
        return f"{r['verdict'].replace('_', ' ')}{tier}{score} ({n} submit{'s' * (n != 1)})"
    if not r["answered"]:
        return "not answered"
    return f"{len(r['hit'])}/{len(r['hit']) + len(r['missed'])} key points"


def lines(rep: dict[str, Any]) -> list[str]:
    """The report as plain lines that fit 80 columns."""
    state = "ended" if rep["ended"] else "running"
    head = [
        f"mock interview {rep['session']} · {rep['started']} · {rep['minutes']} min · "
        f"seed {rep['seed']}{' · strict' if rep['strict'] else ''} · {state}",
        f"clock {clock.fmt(rep['active_s'])} used of {rep['minutes']}:00"
        + (f", over by {clock.fmt(rep['overrun_s'])}" if rep["overrun_s"] else "")
        + (f", paused {clock.fmt(rep['paused_s'])}" if rep["paused_s"] else ""),
        "",
        f"{'#':>2}  {'item':<22} {'used':>6} {'budget':>6} {'hints':>5}  result",
    ]
    for n, r in enumerate(rep["items"], 1):
        used = clock.fmt(r["used_s"]) if r["reached"] else "-"
        flag = "!" if r["timed_out"] else " "
        head.append(
            f"{n:>2}  {r['ref'][:22]:<22} {used:>6}{flag}{clock.fmt(r['budget_s']):>6} "
            f"{r['hints']:>5}  {_result(r)}"[:80]
        )
    dims = rep["dimensions"]
    score = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
    head += [
        "",
        "scores: "
        + " · ".join(
            f"{k} {score(dims[k])}" for k in ("correctness", "performance", "concepts", "time")
        ),
        f"overall {score(dims['overall'])}/100  (rubric: dojo mock report --json)",
    ]
    if rep["study"]:
        head += ["", "study next:"]
        for x in rep["study"]:
            head += [f"- {x['ref']}: {x['what']}"[:80], f"    {x['see']}"[:80]]
    if rep["quiz_cards"]:
        head += ["", f"{len(rep['quiz_cards'])} question(s) added to `dojo quiz` as due cards"]
    return head


def markdown(rep: dict[str, Any]) -> str:
    dims = rep["dimensions"]
    md = [
        f"# Mock interview {rep['session']}",
        "",
        f"{rep['started']}, {rep['minutes']} minutes, seed {rep['seed']}"
        f"{', strict' if rep['strict'] else ''}; clock used {clock.fmt(rep['active_s'])}"
        f", overrun {clock.fmt(rep['overrun_s'])}, paused {clock.fmt(rep['paused_s'])}.",
        "",
        "| # | item | kind | used | budget | hints | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(rep["items"], 1):
        used = clock.fmt(r["used_s"]) if r["reached"] else "-"
        md.append(
            f"| {n} | {r['ref']} | {r['kind']} | {used}{' (over)' if r['timed_out'] else ''} "
            f"| {clock.fmt(r['budget_s'])} | {r['hints']} | {_result(r)} |"
        )
    md += ["", "| dimension | score | rubric |", "|---|---|---|"]
    for k in ("correctness", "performance", "concepts", "time", "overall"):
        v = dims[k]
        md.append(f"| {k} | {'n/a' if v is None else f'{v:.0f}'} | {RUBRIC[k]} |")
    if rep["study"]:
        md += ["", "## Study next", ""]
        md += [f"- **{x['ref']}**: {x['what']} ({x['see']})" for x in rep["study"]]
    return "\n".join(md) + "\n"
