"""Unit tests of the harness pieces every problem relies on: checked calls, comparisons,
null answers, and the PTX function extractor."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import textwrap

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch.multiprocessing import reductions

from grader.harness.checked import CheckedImpl, ImplError, open_impl
from grader.harness.client import WorkerRaised
from grader.harness.compare import assert_close, assert_equal, assert_matches
from grader.harness.plugin import classify
from grader.harness.ptx import function_body
from grader.problem.impls import resolve
from grader.problem.nulls import null_module
from grader.problem.registry import get_problem
from grader.problem.spec import Tolerance
from grader.runtime import wire
from grader.runtime.errors import ImplLoadError, NotAttempted
from grader.runtime.paths import ROOT

TOL = Tolerance(rtol=1e-5, atol=1e-6)


@pytest.fixture
def worker(tmp_path):
    """An rms_norm implementation written to a file, running in a real worker process."""
    opened = []

    def start(body: str) -> CheckedImpl:
        path = tmp_path / f"impl{len(opened)}.py"
        path.write_text("import torch\n\n" + textwrap.dedent(body))
        problem = get_problem("rms_norm")
        opened.append(open_impl(problem, resolve(problem, str(path)), ROOT))
        return opened[-1]

    yield start
    for impl in opened:
        impl.client.close()


def test_checked_call_passes_a_well_behaved_function_through(worker):
    x, w = torch.randn(5), torch.randn(5)
    impl = worker("def rms_norm(x, weight, eps=1e-6):\n    return x * 2\n")
    assert torch.equal(impl.rms_norm(x, w), x * 2)


def test_checked_call_catches_mutation_aliasing_and_reuse(worker):
    x, w = torch.randn(5), torch.randn(5)
    with pytest.raises(AssertionError, match="modified its input 'x'"):
        worker("def rms_norm(x, weight, eps=1e-6):\n    return x.mul_(2).clone()\n").rms_norm(x, w)
    with pytest.raises(AssertionError, match="shares memory with input 'x'"):
        worker("def rms_norm(x, weight, eps=1e-6):\n    return x[1:]\n").rms_norm(x, w)
    reuse = worker(
        "BUF = torch.empty(5)\ndef rms_norm(x, weight, eps=1e-6):\n    return BUF.copy_(x)\n"
    )
    reuse.rms_norm(torch.randn(5), w)
    with pytest.raises(AssertionError, match="overwrote the output of its previous call"):
        reuse.rms_norm(torch.randn(5), w)


def test_checked_call_names_the_exception_of_the_implementation(worker):
    impl = worker("def rms_norm(x, weight, eps=1e-6):\n    raise ValueError('bad shape')\n")
    with pytest.raises(ImplError, match="rms_norm raised ValueError: bad shape") as info:
        impl.rms_norm(torch.randn(3), torch.randn(3))
    assert info.value.raised("ValueError", "Exception") and not info.value.raised("KeyError")


def test_a_signature_the_tests_cannot_call_is_said_as_such(worker):
    renamed = worker("def rms_norm(x, w, epsilon=1e-6):\n    return x * 2\n")
    with pytest.raises(ImplError) as info:
        renamed.rms_norm(x=torch.randn(3), weight=torch.randn(3), eps=1e-6)
    assert str(info.value).startswith(
        "rms_norm cannot be called as the tests call it (TypeError: rms_norm() got an "
        "unexpected keyword argument 'weight'): keep the parameter names"
    ), str(info.value)
    inside = worker(
        "def rms_norm(x, weight, eps=1e-6):\n    return _add(x)\ndef _add(x):\n    return x + 'a'\n"
    )
    with pytest.raises(ImplError) as info:  # raised inside: the attempt's own frames under it
        inside.rms_norm(torch.randn(3), torch.randn(3))
    first, *trace = str(info.value).splitlines()
    assert first.startswith("rms_norm raised TypeError: ") and first.endswith("impl1.py:6)")
    assert trace == [
        "  impl1.py:4 in rms_norm: return _add(x)",
        "  impl1.py:6 in _add: return x + 'a'",
    ]


def test_a_missing_entry_names_a_function_spelt_close_to_it(worker):
    with pytest.raises(ImplLoadError, match=r"defines no rms_norm \(it has rmsnorm: rename it\?\)"):
        worker("def rmsnorm(x, weight, eps=1e-6):\n    return x * 2\n")
    with pytest.raises(ImplLoadError, match=r"defines no rms_norm: the grader calls rms_norm\("):
        worker("def softmax(x):\n    return x * 2\n")


def test_a_module_function_raises_as_the_implementations_error_under_its_name(worker):
    """smem_offset(row, col, pad) called as smem_offset(r, c) by the bank simulator: the
    implementation's error (error verdict), not a WorkerRaised the grader calls internal."""
    impl = worker(
        "def rms_norm(x, weight, eps=1e-6):\n    return x * 2\n"
        "def smem_offset(row, col, pad):\n    return row * 33 + col\n"
    )
    with pytest.raises(ImplError, match="smem_offset cannot be called as the tests call it"):
        impl.module.smem_offset(1, 2)
    assert impl.module.smem_offset(1, 2, 0) == 35
    with pytest.raises(WorkerRaised) as info:  # a call the checked layer did not make
        impl.client.request(("call", ("module", "smem_offset"), (1,), {}))
    assert classify(info)[0] == "error" and "internal error" not in classify(info)[1]


def test_a_stub_is_not_attempted_but_a_deep_not_implemented_error_is_an_error(worker):
    stub = worker("def rms_norm(x, weight, eps=1e-6):\n    raise NotImplementedError\n")
    with pytest.raises(NotAttempted):
        stub.rms_norm(torch.randn(3), torch.randn(3))
    deep = worker(  # torch raises NotImplementedError inside: the implementation's error
        "def rms_norm(x, weight, eps=1e-6):\n    return torch.empty(3, device='meta').cpu()\n"
    )
    with pytest.raises(ImplError):
        deep.rms_norm(torch.randn(3), torch.randn(3))


def test_a_dead_worker_and_an_unsendable_result_are_the_implementations_fault(worker):
    dies = worker("import os\ndef rms_norm(x, weight, eps=1e-6):\n    os._exit(7)\n")
    with pytest.raises(ImplError, match="exited early") as info:
        dies.rms_norm(torch.randn(3), torch.randn(3))
    assert info.value.kind == "died"
    odd = worker(
        "class Sneaky(torch.Tensor):\n    pass\n"
        "def rms_norm(x, weight, eps=1e-6):\n    return (x * 1).as_subclass(Sneaky)\n"
    )
    with pytest.raises(AssertionError, match="returned a Sneaky where a torch.Tensor"):
        odd.rms_norm(torch.randn(3), torch.randn(3))


@pytest.mark.parametrize(
    "returns, words",
    [
        ("(x * 2).tolist()", "returned a list of 3 floats where a torch.Tensor"),
        ("(x * 2).numpy()", "returned a NumPy array where a torch.Tensor was expected: compute"),
        ("None", "returned None where a torch.Tensor was expected: is a `return` missing?"),
        ("(x * 2, [1.0])", "returned a list of 1 float as its tuple item 1 where"),
        ("float(x.sum())", "returned a float where"),
    ],
)
def test_an_output_that_is_not_a_tensor_is_the_implementations_failure(worker, returns, words):
    """Said at the call, as a failed check: a test computing with a list (a * out) would raise a
    TypeError of its own, reported as the grader's internal error."""
    impl = worker(f"def rms_norm(x, weight, eps=1e-6):\n    return {returns}\n")
    with pytest.raises(AssertionError) as info:
        impl.rms_norm(torch.randn(3), torch.randn(3))
    assert words in str(info.value)


def test_a_tuple_or_list_of_tensors_passes_through(worker):
    impl = worker("def rms_norm(x, weight, eps=1e-6):\n    return [x * 2, (x + 1,)]\n")
    out = impl.rms_norm(torch.ones(3), torch.ones(3))
    assert torch.equal(out[0], torch.full((3,), 2.0)) and torch.equal(
        out[1][0], torch.full((3,), 2.0)
    )


def test_what_the_worker_sends_is_unpickled_through_a_whitelist():
    evil = pickle.dumps(("ok", os.system))  # a function the worker chose: never called here
    a, b = multiprocessing.Pipe()
    a.send_bytes(evil)
    with pytest.raises(wire.Unreceivable, match="posix.system"):
        wire.receive(b)


class _Forged:
    """Pickles as a tensor on `storage` with the size, strides and offset a worker chose."""

    def __init__(self, storage: torch.Tensor, size: list, stride: list, offset: int):
        storage.share_memory_()
        self.rebuild, (self.cls, self.typed, _) = reductions.reduce_tensor(storage)
        self.meta = (offset, torch.Size(size), tuple(stride), False)

    def __reduce__(self):
        return self.rebuild, (self.cls, self.typed, self.meta)


@given(
    size=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    strides=st.lists(st.integers(-1, 9), min_size=3, max_size=3),
    offset=st.integers(-2, 40),
    elements=st.integers(1, 40),
)
@example(size=[3], strides=[1, 1, 1], offset=2, elements=4)  # one past the end
@example(size=[3], strides=[1, 1, 1], offset=1, elements=4)  # up to the end exactly
def test_a_received_tensor_must_lie_inside_its_storage(size, strides, offset, elements):
    stride = strides[: len(size)]
    storage = torch.arange(elements)
    a, b = multiprocessing.Pipe()
    wire.send(a, ("ok", _Forged(storage, size, stride, offset)))
    reached = [
        offset + sum(i * s for i, s in zip(at, stride))
        for at in itertools.product(*(range(n) for n in size))
    ]
    if min(stride + [offset]) < 0 or any(r >= elements for r in reached):
        with pytest.raises(wire.Unreceivable, match="size"):
            wire.receive(b)
    else:  # a view the worker could have made: it arrives with its values
        got = wire.receive(b)[1]
        assert got.flatten().tolist() == reached


class _ForgedCuda:
    """Pickles as a CUDA tensor by IPC handle, claiming `size` over a storage of `nbytes`."""

    def __init__(self, size: list, nbytes: object, dtype: object = torch.float32):
        self.args = (torch.Tensor, torch.Size(size), (1,), 0, torch.UntypedStorage, dtype, 0,
                     b"not a handle", nbytes, 0, False, b"", 0, b"", False)  # fmt: skip

    def __reduce__(self):
        return reductions.rebuild_cuda_tensor, self.args


@pytest.mark.parametrize(
    ("size", "nbytes", "dtype", "match"),
    [
        ([1 << 28], 64, torch.float32, "does not fit its storage of 16 elements"),
        ([17], 64, torch.float32, "does not fit its storage of 16 elements"),
        ([4], -8, torch.float32, "storage -8 bytes"),
        ([4], 64, "float32", "storage 64 bytes"),
    ],  # fmt: skip
)
def test_a_cuda_tensor_is_checked_against_the_bytes_it_claims_before_its_handle_opens(
    size, nbytes, dtype, match
):
    """No GPU needed: the claim is refused before rebuild_cuda_tensor touches the handle (on a
    GPU the real storage is checked as well, once opened)."""
    a, b = multiprocessing.Pipe()
    wire.send(a, ("ok", _ForgedCuda(size, nbytes, dtype)))
    with pytest.raises(wire.Unreceivable, match=match):
        wire.receive(b)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_assert_close_accepts_equal_tensors_and_rejects_a_perturbed_one(values):
    x = torch.tensor(values, dtype=torch.float64)
    assert_close(x.clone(), x, TOL)
    bumped = x.clone()
    bumped[len(values) // 2] += 1e-3 * (1 + abs(float(x[len(values) // 2])))
    with pytest.raises(AssertionError, match="1 of"):
        assert_close(bumped, x, TOL)


def test_assert_close_reports_nan_inf_shape_dtype_and_the_first_indices():
    e = torch.tensor([1.0, 2.0, float("inf"), float("nan")])
    assert_close(e.clone(), e, TOL)  # inf == inf and NaN where expected are fine
    with pytest.raises(AssertionError, match="NaN where the reference has none"):
        assert_close(torch.tensor([1.0, float("nan"), float("inf"), float("nan")]), e, TOL)
    with pytest.raises(AssertionError, match="2 of 4 elements differ"):
        assert_close(torch.tensor([1.0, 2.5, -float("inf"), float("nan")]), e, TOL)
    with pytest.raises(AssertionError, match=r"shape \(2, 2\), expected \(4,\)"):
        assert_close(e.reshape(2, 2), e, TOL)
    with pytest.raises(AssertionError, match="dtype torch.float64"):
        assert_close(e.double(), e, TOL)


def test_assert_equal_and_assert_matches_are_exact_for_integers():
    ids = torch.tensor([3, 1, 2])
    assert_equal(ids.clone(), ids)
    with pytest.raises(AssertionError, match="exact match"):
        assert_equal(torch.tensor([3, 2, 1]), ids)
    with pytest.raises(AssertionError, match=r"output\[1\]"):
        assert_matches(
            (torch.ones(2), torch.tensor([1, 2])),
            (torch.ones(2), torch.tensor([1, 3])),
            lambda dtype: TOL,
        )


def test_null_answers_are_built_from_the_reference():
    p = get_problem("rms_norm")
    x, w = torch.randn(3, 8), torch.randn(8)
    from reference.rms_norm import rms_norm

    want = rms_norm(x, w)
    assert torch.count_nonzero(null_module(p, "zeros").rms_norm(x, w)) == 0
    assert torch.equal(null_module(p, "copy").rms_norm(x, w), x)
    half = null_module(p, "fp16").rms_norm(x, w)
    assert half.dtype == torch.float32 and not torch.equal(half, want)
    assert float((half - want).abs().max()) < 1e-2  # close, but not within fp32 tolerance


PTX = """
.visible .entry outer(
{
	call.uni (retval0), _Z5innerf, (param0);
	ld.shared.f32 %f1, [%r1];
}
.func  (.param .b32 func_retval0) _Z5innerf(
{
	shfl.sync.bfly.b32 %r2|%p1, %r3, 16, 31, -1;
}
.visible .entry other(
{
	st.shared.f32 [%r1], %f1;
}
"""


def test_ptx_function_body_follows_calls_and_stops_at_the_function():
    body = function_body(PTX, "outer")
    assert "ld.shared" in body and "shfl.sync" in body and "st.shared" not in body
    assert "st.shared" in function_body(PTX, "other")
