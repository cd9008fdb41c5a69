"""The rules of the exercise: the AST resolver finds a forbidden call however it is imported and
aliased and leaves honest code alone; the worker's watch records what the attempt ran, not what
the grader ran; the harness believes only a well-formed report."""

from __future__ import annotations

import keyword

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader.harness.rules import dynamic_violations, rule_message
from grader.harness.rules_ast import scan
from grader.harness.rules_watch import Watch
from grader.problem.registry import get_problem
from grader.problem.rules import Rules
from grader.runtime.paths import ROOT

SOFTMAX = get_problem("online_softmax").rules
TARGET = "torch.nn.functional.softmax"

# (imports, the expression that names F.softmax) for one alias name `{a}`
SPELLINGS = [
    ("import torch.nn.functional as {a}", "{a}.softmax"),
    ("from torch.nn import functional as {a}", "{a}.softmax"),
    ("from torch import nn as {a}", "{a}.functional.softmax"),
    ("import torch as {a}", "{a}.nn.functional.softmax"),
    ("import torch.nn.functional", "torch.nn.functional.softmax"),
    ("import torch\n{a} = torch.nn.functional", "{a}.softmax"),
    ("import torch.nn.functional as {a}", 'getattr({a}, "softmax")'),
    ("import torch\n{a} = torch.nn\nb = {a}.functional", "b.softmax"),
]
ALIASES = st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\Z").filter(
    lambda a: not keyword.iskeyword(a) and a not in ("torch", "b", "x", "getattr")
)


def _lines(found) -> list[tuple[int, str]]:
    return [(v.line, v.name) for v in found]


@given(spelling=st.sampled_from(SPELLINGS), alias=ALIASES, pad=st.integers(0, 5))
def test_an_aliased_forbidden_call_is_found_on_its_line(spelling, alias, pad):
    imports, expr = (s.format(a=alias) for s in spelling)
    src = f"{imports}\n" + "# padding\n" * pad + f"def softmax(x):\n    return {expr}(x, -1)\n"
    line = imports.count("\n") + 1 + pad + 2
    found = scan(src, "attempt.py", SOFTMAX)
    assert (line, TARGET) in _lines(found), (src, found)
    assert all(v.line == line for v in found), found  # the imports alone name no forbidden op


@given(alias=ALIASES)
def test_importing_the_forbidden_function_by_name_is_found_at_the_import(alias):
    src = f"from torch.nn.functional import softmax as {alias}\ny = {alias}(x, -1)\n"
    assert _lines(scan(src, "a.py", SOFTMAX)) == [(1, TARGET), (2, TARGET)]


@pytest.mark.parametrize(
    ("src", "name"),
    [
        ("y = x.softmax(-1)", "torch.Tensor.softmax"),
        ("y = x.float().log_softmax(1).exp()", "torch.Tensor.log_softmax"),
        ("y = getattr(x, 'softmax')(-1)", "torch.Tensor.softmax"),
        ("import torch\ny = torch.ops.aten._softmax(x, -1, False)", "torch.ops.aten._softmax"),
        ("import torch\nm = torch.nn.Softmax(dim=-1)", "torch.nn.Softmax"),
        ("from torch import special\ny = special.softmax(x, 0)", "torch.special.softmax"),
    ],
)
def test_methods_modules_and_aten_ops_are_found(src, name):
    assert name in [v.name for v in scan(src, "a.py", SOFTMAX)]


HONEST = """
import torch
import triton.language as tl
from torch import exp

softmax = None  # a local name that shadows nothing


def softmax(x):
    m = x.amax(dim=-1, keepdim=True)
    e = torch.exp(x - m) + exp(x) * 0
    total = tl.sum(e, axis=0)
    return e / e.sum(dim=-1, keepdim=True)


class Model:
    def softmax(self, x):
        return self.softmax(x)


if __name__ == "__main__":
    print(torch.softmax(torch.randn(3), 0))
"""


def test_honest_softmax_code_is_not_flagged():
    assert scan(HONEST, "attempt.py", SOFTMAX) == []


def test_imports_of_the_reference_and_solutions_are_found_however_spelled():
    src = (
        "import reference.online_softmax as r\n"
        "from solutions.online_softmax import triton\n"
        "from reference import online_softmax\n"
        "import importlib\nm = importlib.import_module('solutions.rms_norm.triton')\n"
        "import referenced_elsewhere\n"
    )
    got = [(v.line, v.verb, v.name) for v in scan(src, "a.py", SOFTMAX)]
    assert got == [
        (1, "imports", "reference.online_softmax"),
        (2, "imports", "solutions.online_softmax"),
        (3, "imports", "reference"),
        (5, "imports", "solutions.rms_norm.triton"),
    ]


def test_a_solution_may_import_its_own_package_only():
    src = "from solutions.moe_dispatch.torch import route\nimport solutions.rms_norm\n"
    found = scan(src, "s.py", SOFTMAX, allowed=("solutions.moe_dispatch",))
    assert [v.name for v in found] == ["solutions.rms_norm"]


def test_the_matmul_operator_and_casts_are_found():
    gemm = get_problem("wmma_gemm").rules
    assert [v.name for v in scan("c = a @ b\nc @= b\n", "a.py", gemm)] == [
        "torch.Tensor.__matmul__ (the @ operator)"
    ] * 2
    fp8 = get_problem("fp8_quant").rules
    src = "import torch\nF8 = torch.float8_e4m3fn\nq = x.to(F8)\ne = torch.empty(3, dtype=F8)\n"
    assert _lines(scan(src, "a.py", fp8)) == [(3, "torch.float8_e4m3fn")]


def test_the_message_is_one_line_naming_file_line_call_and_reason():
    (v,) = scan("y = x.sum()\n", "attempt.py", get_problem("warp_reduce").rules)
    msg = rule_message(get_problem("warp_reduce"), v, 2)
    assert msg == (
        "rules: attempt.py:1 calls torch.Tensor.sum — warp_reduce asks you to write the sum "
        "yourself (+2 more)"
    )


# ---- the worker's watch, run here in-process --------------------------------------------------

ATTEMPT = """
import torch

def run(x):
    y = getattr(torch, "soft" + "max")(x, -1)
    z = x.T
    return torch.ops.aten._softmax.default(x, -1, False)
"""


def _compiled(src: str, filename: str) -> dict:
    scope: dict = {}
    exec(compile(src, filename, "exec"), scope)
    return scope


def test_the_watch_records_the_attempts_calls_however_spelled(tmp_path):
    rules = Rules(forbidden=("torch.softmax", "torch.Tensor.T", "torch.ops.aten._softmax"))
    watch = Watch(rules, ROOT)
    run = _compiled(ATTEMPT, str(tmp_path / "attempt.py"))["run"]
    with watch.watching():
        run(torch.randn(2, 3))
    assert [(r["line"], r["name"]) for r in watch.found] == [
        (5, "torch.softmax"),
        (6, "torch.Tensor.T"),
        (7, "torch.ops.aten._softmax"),
    ]


def test_the_watch_ignores_the_graders_own_calls_and_unwatched_ones(tmp_path):
    watch = Watch(Rules(forbidden=("torch.softmax",)), ROOT)
    graders = _compiled(ATTEMPT, str(ROOT / "grader" / "harness" / "helper.py"))["run"]
    attempt = _compiled(ATTEMPT, str(tmp_path / "attempt.py"))["run"]
    with watch.watching():
        graders(torch.randn(2, 3))
    attempt(torch.randn(2, 3))  # outside the watch: the worker's own work between calls
    assert watch.found == []


def test_the_watch_records_imports_and_casts(tmp_path):
    watch = Watch(Rules(casts=("float8_e4m3fn",)), ROOT)
    src = (
        "import importlib, torch\n"
        "def run(x):\n"
        "    importlib.import_module('refer' + 'ence.rms_norm')\n"
        "    q = torch.empty(x.shape, dtype=torch.float8_e4m3fn)\n"
        "    q.view(torch.uint8).zero_()\n"
        "    q.copy_(x)\n"
    )
    run = _compiled(src, str(tmp_path / "attempt.py"))["run"]
    with watch.watching():
        run(torch.randn(4))
    # importing the reference also reads its files, unless an earlier test imported it here
    got = [(r["line"], r["verb"]) for r in watch.found if r["verb"] != "reads"]
    assert got == [(3, "imports"), (6, "converts")], watch.found
    assert {r["line"] for r in watch.found if r["verb"] == "reads"} <= {3}, watch.found


@pytest.mark.parametrize(
    "report",
    [
        None,
        "ok",
        [{"file": "a.py"}],
        [{"file": "a.py", "line": [], "verb": "calls", "name": "torch.sum"}],
        [{"file": "a.py", "line": True, "verb": "calls", "name": "torch.sum"}],
    ],
)
def test_a_malformed_report_from_the_worker_is_a_failure(report):
    with pytest.raises(AssertionError, match="rule report"):
        dynamic_violations(report)


# ---- reaching into the grader's own process ---------------------------------------------------

# (source line, what the static check names): each a way to the worker's module (it runs as
# __main__), its frames or its objects, where the clock and the replies live
REACHES = [
    ("import sys\nw = sys.modules['__main__']", "sys.modules"),
    ("from sys import modules\nw = modules.get('__ma' 'in__')", "'__main__'"),
    ("import __main__ as w", "__main__"),
    ("import importlib\nw = importlib.import_module('__main__')", "__main__"),
    ("from grader.runtime import timing", "grader.runtime.timing"),
    ("from grader import harness", "grader.harness"),
    ("import grader.harness.worker as w", "grader.harness.worker"),
    ("import grader.runtime", "grader.runtime"),
    ("from problems.ep_all_to_all import hooks", "problems.ep_all_to_all"),
    ("import sys\nf = sys._getframe(1)", "sys._getframe"),
    ("import inspect as i\nf = i.stack()", "inspect.stack"),
    ("import gc\nobjs = gc.get_objects()", "gc.get_objects"),
    ("def f(e):\n    return e.__traceback__.tb_frame", ".tb_frame"),
    ("def f(frame):\n    return getattr(frame, 'f_back')", ".f_back"),
    ("def f(fn):\n    return fn.__globals__['sample_gpu']", ".__globals__"),
]


@pytest.mark.parametrize(("src", "name"), REACHES)
def test_reaching_into_the_graders_process_is_found_with_its_own_reason(src, name):
    found = scan(src + "\n", "attempt.py", SOFTMAX)
    assert name in [v.name for v in found], found
    hit = next(v for v in found if v.name == name)
    message = rule_message(get_problem("online_softmax"), hit, 0)
    assert message.endswith("attempts may not reach into the grader (its worker, clock or checks)")


def test_the_attempts_api_of_the_grader_and_the_main_guard_are_fine():
    src = (
        "import sys\n"
        "from grader.runtime.cuda import CudaSource, launch\n"
        "from grader.runtime import cuda, device\n"
        "import grader.runtime.device\n"
        "from grader.runtime.device import programmatic_launch\n"
        "name = __name__\n"
        "if '__main__' == __name__:\n"
        "    print(sys.modules)\n"
        "if __name__ == '__main__':\n"
        "    import gc; gc.get_objects()\n"
    )
    assert scan(src, "attempt.py", SOFTMAX) == []


def test_the_watch_records_grader_imports_by_computed_names_not_the_attempts_api(tmp_path):
    watch = Watch(Rules(), ROOT)
    src = (
        "import importlib\n"
        "def run():\n"
        "    from grader.runtime import cuda, device\n"
        "    import grader.runtime.device\n"
        "    importlib.import_module('grader.runtime.' + 'timing')\n"
        "    __import__('grader.runtime', fromlist=('wire',))\n"
        "    importlib.import_module('__ma' + 'in__')\n"
        "    open(importlib.import_module('grader.runtime.cuda').__file__).close()\n"
    )
    run = _compiled(src, str(tmp_path / "attempt.py"))["run"]
    with watch.watching():
        run()
    got = [(r["line"], r["verb"], r["name"]) for r in watch.found]
    assert got == [
        (5, "imports", "grader.runtime.timing"),
        (6, "imports", "grader.runtime.wire"),
        (7, "imports", "__main__"),
    ], watch.found
