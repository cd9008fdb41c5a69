"""A peer that rounds differently is timed and marked inexact; one further off is wrong; one that
cannot run a case is an error on that case and timed on the others. Run through the bench
driver on a copy of moe_dispatch (float outputs, a CPU bench, two cases) with three planted
peers: the reference's output moved by 2x the tolerance, by 10x, and one that raises at T=64."""

from __future__ import annotations

import re
import shutil

import pytest
from rich.console import Console

from grader.cli.peers_view import print_peers
from grader.perf import bench
from grader.perf.grade import choose_perf
from grader.perf.score import score
from grader.problem.load import load_problem
from grader.problem.registry import ROOT

PLANTED = """

def _moved(times, x, logits, w_gate, w_up, w_down, top_k):
    from reference.moe_dispatch import moe_forward as ref

    y = ref(x, logits, w_gate, w_up, w_down, top_k).float()  # (T, H)
    tol = {"bfloat16": (1.6e-2, 1e-2), "float32": (1e-5, 2e-5)}[str(x.dtype)[6:]]
    return (y + times * (tol[1] + tol[0] * y.abs())).to(x.dtype)  # every element moved


def rounds(x, logits, w_gate, w_up, w_down, top_k):
    return _moved(2.0, x, logits, w_gate, w_up, w_down, top_k)


def off(x, logits, w_gate, w_up, w_down, top_k):
    return _moved(10.0, x, logits, w_gate, w_up, w_down, top_k)


def picky(x, logits, w_gate, w_up, w_down, top_k):
    if x.shape[0] == 64:  # a library's own limit, as Liger's softmax has at 65536 columns
        raise ValueError("picky supports at most 32 tokens")
    return _moved(0.0, x, logits, w_gate, w_up, w_down, top_k)
"""
DECLARED = """
[peers.rounds]
label = "2x the tolerance"
function = "rounds"

[peers.off]
label = "10x the tolerance"
function = "off"

[peers.picky]
label = "at most 32 tokens"
function = "picky"
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    (root / "problems" / "moe_dispatch").mkdir(parents=True)
    (root / "reference" / "peers").mkdir(parents=True)
    toml = (ROOT / "problems" / "moe_dispatch" / "problem.toml").read_text()
    big = 'cases = [{ T = 2048, E = 8, k = 2, H = 256, F = 512, dtype = "bfloat16" }]'
    assert big in toml
    small = big.replace("T = 2048", "T = 64").replace("H = 256", "H = 32").replace("512", "64")
    small = small.replace("}]", "}, " + small[small.index("{") : small.index("}") + 1].replace(
        "T = 64", "T = 32") + "]")  # fmt: skip
    toml = toml.replace(big, small).replace(
        'entry = "moe_forward"\n', 'entry = "moe_forward"\nbudget_s = 1\n', 1
    )
    (root / "problems" / "moe_dispatch" / "problem.toml").write_text(toml + DECLARED)
    shutil.copy(ROOT / "reference" / "moe_dispatch.py", root / "reference" / "moe_dispatch.py")
    peers = (ROOT / "reference" / "peers" / "moe_dispatch.py").read_text() + PLANTED
    (root / "reference" / "peers" / "moe_dispatch.py").write_text(peers)
    problem = load_problem(root / "problems" / "moe_dispatch" / "problem.toml")
    if choose_perf(problem).device != "cpu":
        pytest.skip("the planted peers are CPU code")
    raw = bench.measure(problem, "reference", peers=True)
    return raw, score(problem, choose_perf(problem), raw, peers=True)


def test_a_peer_within_the_factor_is_timed_and_marked_inexact(run):
    _, result = run
    rounds = next(p for p in result["peers"] if p["name"] == "rounds")
    assert rounds["status"] == "inexact", rounds
    assert rounds["cases"][0]["samples"] >= 5 and rounds["fraction"] > 0
    assert "differ beyond" in rounds["message"] and rounds["message"].startswith("case {")


def test_a_peer_past_the_factor_is_wrong_and_not_timed(run):
    raw, result = run
    off = next(p for p in result["peers"] if p["name"] == "off")
    assert off["status"] == "failed" and "cases" not in off and "fraction" not in off
    assert "cases" not in next(p for p in raw["peers"] if p["name"] == "off")
    assert "rtol=0.016, atol=0.01;" in off["message"]  # the problem's tolerance, not 10x


def test_an_inexact_peer_counts_in_the_comparison_and_says_so_in_the_table(run):
    _, result = run
    timed = [p for p in result["peers"] if p["status"] in ("measured", "inexact")]
    best = max(timed, key=lambda p: p["fraction"])
    assert result["versus_peers"][0]["best_peer"] == best["name"]
    console = Console(width=80, record=True, color_system=None)
    print_peers(console, {**result, "problem": "moe_dispatch", "impl": "reference"})
    text = console.export_text()
    assert "2x the tolerance (inexact)" in text and "10x the tolerance" in text
    assert "outside this problem's tolerance, timed anyway" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_peer_that_cannot_run_one_case_is_timed_on_the_others(run):
    _, result = run
    picky = next(p for p in result["peers"] if p["name"] == "picky")
    assert picky["status"] == "measured", picky
    refused, timed = picky["cases"]
    assert refused["status"] == "error" and "fraction" not in refused
    assert "at most 32 tokens" in refused["message"] and "'T': 64" in refused["message"]
    assert timed["case"]["T"] == 32 and picky["fraction"] == timed["fraction"] > 0
    assert "at most 32 tokens" in picky["message"]
    console = Console(width=80, record=True, color_system=None)
    print_peers(console, {**result, "problem": "moe_dispatch", "impl": "reference"})
    text = console.export_text()
    assert re.search(r"at most 32 tokens +error on this case, not timed", text), text
    assert result["versus_peers"][0]["best_peer"] != "picky"
