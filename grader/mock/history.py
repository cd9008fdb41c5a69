"""Past sessions: one row each, the trend of overall scores (a sparkline, an SVG on request),
and the weakest topics and problems, which the next plan favours."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.mock import report
from grader.mock.session import Session

SPARKS = "▁▂▃▄▅▆▇█"


def rows(sessions: Iterable[Session]) -> list[dict[str, Any]]:
    """Ended sessions, oldest first, each reduced to its scores."""
    out = []
    for s in sessions:
        if s.running:
            continue
        rep = report.build(s, s.ended_at)
        out.append(
            {
                "session": s.id,
                "started": rep["started"],
                "minutes": s.minutes,
                "items": len(s.items),
                **rep["dimensions"],
                "per_item": [(r["kind"], r["ref"], r["topic"], r["score"]) for r in rep["items"]],
            }
        )
    return out


def weakness(hist: list[dict[str, Any]]) -> dict[str, float]:
    """For each problem slug and question topic seen: 1 - mean score / 100 (0 strong, 1 weak)."""
    scores: dict[str, list[float]] = defaultdict(list)
    for row in hist:
        for kind, ref, topic, score in row["per_item"]:
            if score is not None:
                scores[ref if kind == "coding" else topic].append(score)
    return {k: round(1 - sum(v) / len(v) / 100, 3) for k, v in scores.items()}


def weakest(hist: list[dict[str, Any]], n: int = 5) -> list[tuple[str, float, int]]:
    """The n weakest areas as (problem or topic, mean score, times seen), weakest first."""
    seen: dict[str, list[float]] = defaultdict(list)
    for row in hist:
        for kind, ref, topic, score in row["per_item"]:
            if score is not None:
                seen[ref if kind == "coding" else topic].append(score)
    means = [(k, round(sum(v) / len(v), 1), len(v)) for k, v in seen.items()]
    return sorted(means, key=lambda t: (t[1], -t[2], t[0]))[:n]


def table(hist: list[dict[str, Any]]) -> list[str]:
    """One line per session: its overall score and the dimensions behind it."""
    fmt = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
    head = f"{'session':<18} {'min':>4} {'overall':>7} {'correct':>7} {'concepts':>8} {'time':>5}"
    return [head] + [
        f"{r['session']:<18} {r['minutes']:>4} {fmt(r['overall']):>7} "
        f"{fmt(r['correctness']):>7} {fmt(r['concepts']):>8} {fmt(r['time']):>5}"
        for r in hist
    ]


def sparkline(values: list[float | None]) -> str:
    """One character per session, ▁ for 0 up to █ for 100; '·' where nothing was scored."""
    return "".join(
        "·" if v is None else SPARKS[min(len(SPARKS) - 1, int(v / 100 * len(SPARKS)))]
        for v in values
    )


def write_svg(path: Path, values: list[float | None], width: int = 480, height: int = 160) -> None:
    """The overall score per session as a line chart (0..100 on y), a plain SVG file."""
    pad = 24
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    step = (width - 2 * pad) / max(1, len(values) - 1)
    xy = [(pad + i * step, height - pad - v / 100 * (height - 2 * pad)) for i, v in pts]
    poly = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in xy)
    grid = "".join(
        f'<line x1="{pad}" x2="{width - pad}" y1="{height - pad - f * (height - 2 * pad):.1f}" '
        f'y2="{height - pad - f * (height - 2 * pad):.1f}" stroke="#ddd"/>'
        f'<text x="2" y="{height - pad - f * (height - 2 * pad) + 4:.1f}" font-size="10">'
        f"{int(f * 100)}</text>"
        for f in (0, 0.5, 1)
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">{grid}<polyline points="{poly}" fill="none" '
        f'stroke="#36c" stroke-width="2"/>{dots}'
        f'<text x="{pad}" y="14" font-size="12">overall score per mock session</text></svg>\n'
    )
