"""`dojo bench --plot FILE.svg`: each benchmark case's fraction of the baseline against the
bronze/silver/gold bars, as a dependency-free SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"bronze": "#cd7f32", "silver": "#9a9a9a", "gold": "#d4a017"}


def write_svg(bench: dict[str, Any], path: Path) -> None:
    cases = bench["cases"]
    top = max([1.0, *bench["bars"].values(), *(c["fraction"] for c in cases)]) * 1.1
    width, row, left = 640, 36, 220
    height = 60 + row * len(cases)
    scale = (width - left - 20) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="monospace" font-size="12">',
        f'<text x="10" y="20" font-size="14">{bench.get("problem", "")} · '
        f"{bench.get('impl', '')} · {bench['metric']} vs {bench['baseline']}</text>",
    ]
    for i, c in enumerate(cases):
        y = 40 + i * row
        label = " ".join(f"{k}={v}" for k, v in c["case"].items())[:30]
        parts.append(f'<text x="10" y="{y + 16}">{label}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 4}" width="{c["fraction"] * scale:.1f}" '
            f'height="18" fill="#4a7ab7"/>'
        )
        parts.append(
            f'<text x="{left + c["fraction"] * scale + 4:.1f}" y="{y + 17}">'
            f"{c['fraction']:.3f}</text>"
        )
    for tier, bar in bench["bars"].items():
        x = left + bar * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="32" x2="{x:.1f}" y2="{height - 8}" '
            f'stroke="{COLORS[tier]}" stroke-dasharray="4"/>'
        )
        parts.append(f'<text x="{x + 2:.1f}" y="{height - 2}" fill="{COLORS[tier]}">{tier}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
