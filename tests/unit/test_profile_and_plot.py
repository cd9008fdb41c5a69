"""ncu CSV parsing (for `dojo bench --ncu`) and the SVG chart of `dojo bench --plot`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.perf.plot import write_svg
from grader.perf.profile import extra_wavefronts, parse_csv

HEADER = [
    "ID",
    "Process ID",
    "Process Name",
    "Host Name",
    "Kernel Name",
    "Context",
    "Stream",
    "Block Size",
    "Grid Size",
    "Device",
    "CC",
    "Section Name",
    "Metric Name",
    "Metric Unit",
    "Metric Value",
]
ROWS = [
    ("l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum", "", "9,370,411"),
    ("smsp__sass_inst_executed_op_shared_ld.sum", "inst", "8,388,608"),
    ("gpu__time_duration.sum", "us", "767.46"),
]


def _quoted(cells) -> str:
    return ",".join(f'"{c}"' for c in cells)


KERNEL = [
    "0",
    "1",
    "python3",
    "h",
    "transpose_kernel",
    "1",
    "7",
    "(32, 8, 1)",
    "(1, 1, 1)",
    "0",
    "9.0",
    "metrics",
]
CSV = (
    "==PROF== Connected to process 1\n"
    + "\n".join([_quoted(HEADER)] + [_quoted([*KERNEL, *row]) for row in ROWS])
    + "\n"
)


def test_ncu_csv_rows_become_per_kernel_metrics_with_extra_wavefronts():
    kernels = parse_csv(CSV)
    (name,) = kernels
    assert name == "0 transpose_kernel"
    m = kernels[name]
    assert m["gpu__time_duration.sum"] == 767.46
    assert extra_wavefronts(m) == {"shared_ld_extra_wavefronts": 9370411 - 8388608}


def test_ncu_output_without_a_table_parses_to_nothing():
    assert parse_csv("==ERROR== the profiler could not start\n") == {}


def test_plot_is_an_svg_with_a_bar_per_case_and_a_line_per_tier(tmp_path):
    bench = {
        "problem": "rms_norm",
        "impl": "solution",
        "metric": "bandwidth",
        "baseline": "copy",
        "bars": {"bronze": 0.5, "silver": 0.75, "gold": 0.9},
        "cases": [
            {"case": {"rows": 16384}, "fraction": 0.957},
            {"case": {"rows": 8}, "fraction": 0.31},
        ],
    }
    path = tmp_path / "bench.svg"
    write_svg(bench, path)
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}rect")) == 2 and len(root.findall(f"{ns}line")) == 3
    assert "0.957" in path.read_text() and "gold" in path.read_text()
