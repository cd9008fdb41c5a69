"""The kernel table: the --kernels grammar, what `auto` binds on a CPU, and the fused-norm
fallback for implementations without fused_add_rms_norm."""

from __future__ import annotations

import pytest
import torch

from engine.ops import KernelError, load_kernels, parse_spec
from reference.rms_norm import fused_add_rms_norm

# Triton variants run on the GPU where there is one; on a CPU through the interpreter (dojo's
# conftest turns it on). On a GPU machine the interpreter is off, so "cpu" would refuse them.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def test_spec_grammar_maps_every_op():
    assert parse_spec("reference")["rms_norm"] == "reference"
    spec = parse_spec("rms_norm=attempt,online_softmax=wrong:no_max_shift")
    assert spec["rms_norm"] == "attempt" and spec["softmax"] == "wrong:no_max_shift"
    assert spec["radix_cache"] == "auto"
    with pytest.raises(KernelError, match="unknown op 'rmsnorm'"):
        parse_spec({"rmsnorm": "attempt"})
    with pytest.raises(KernelError, match="a file implements one op"):
        parse_spec("my_kernels/rms.py")


def test_auto_on_a_cpu_runs_references_for_triton_and_solutions_for_python():
    bound = load_kernels("auto", "cpu").bound
    assert bound["rms_norm"] == "reference" and bound["softmax"] == "reference"
    assert bound["radix_cache"] == "solution:python"


def test_a_module_without_the_fused_norm_gets_add_then_norm():
    k = load_kernels({"rms_norm": "wrong:mean_over_block"}, DEVICE)  # defines rms_norm only
    x, r = torch.randn(3, 48, device=DEVICE), torch.randn(3, 48, device=DEVICE)
    w = torch.ones(48, device=DEVICE)
    normed, h = k.fused_add_rms_norm(x, r, w, 1e-6)
    assert torch.equal(h, x + r) and torch.allclose(normed, k.rms_norm(x + r, w, 1e-6))
    ref_normed, _ = fused_add_rms_norm(x, r, w, 1e-6)
    assert not torch.allclose(normed, ref_normed, atol=1e-3), "the wrong variant ran"


def test_a_file_path_binds_one_op(tmp_path):
    path = tmp_path / "my_rms.py"
    path.write_text("from reference.rms_norm import rms_norm\n")
    k = load_kernels({"rms_norm": str(path)}, DEVICE)
    assert k.bound["rms_norm"] == str(path)
