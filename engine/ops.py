"""The kernel table: every op the engine calls, bound by name to a solution, the reference, the
user's attempt or a file, through the grader's --impl grammar. The only grader import in engine/
(but engine/__main__.py, the torchrun entry point: it hands over to grader/cli/engine_rank.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grader.runtime.device import enable_interpreter_if_no_gpu, interpreting

enable_interpreter_if_no_gpu()  # Triton reads TRITON_INTERPRET once, at its first import

from grader.problem.impls import SOLUTION_STEMS, _short, load, resolve  # noqa: E402
from grader.problem.registry import UnknownProblem, get_problem  # noqa: E402
from grader.runtime.errors import ImplLoadError  # noqa: E402


@dataclass(frozen=True, slots=True)
class Op:
    problem: str
    entries: tuple[str, ...]
    where: str


OPS = {
    "rms_norm": Op("rms_norm", ("rms_norm",), "every norm: input, post-attention, final, q/k"),
    "softmax": Op("online_softmax", ("softmax",), "sampling probabilities and log-probs"),
    "radix_cache": Op("radix_tree", ("RadixCache",), "prefix cache over KV pages"),
    "paged_attention": Op(
        "paged_attention",
        ("paged_decode_attention", "paged_decode_attention_fp8"),  # the second: fp8 pages, optional
        "decode attention",
    ),
    "moe": Op("moe_dispatch", ("route", "moe_forward"), "MoE layers: route, grouped experts"),
    "ep_moe": Op("ep_all_to_all", ("ep_moe",), "MoE layers under expert parallelism"),
    "fp8_quant": Op("fp8_quant", ("quant_fp8", "dequant_fp8"), "FP8 KV cache (per-head scales)"),
    "spec_decode": Op("spec_decode", ("verify", "verify_greedy"), "speculative decoding"),
}
LATER = {  # in the table (ENGINE.md), wired by later parts of the engine
    "wmma_gemm": "optional fp16 linear layers",
}
NO_HOT_PATH = {
    "warp_reduce": "a building block inside the norms and softmax, not an op of its own",
    "smem_transpose": "a decoder never transposes a matrix on its hot path",
}
BACKENDS = ("auto", "solution", "reference", "attempt")


class KernelError(ValueError):
    """An op could not be bound; str() is the one line for the user."""


class OpNotImplemented(NotImplementedError):
    """A bound implementation is still a stub; str() names the op and its file."""


@dataclass(frozen=True, slots=True)
class Kernels:
    rms_norm: Callable
    fused_add_rms_norm: Callable
    softmax: Callable
    RadixCache: type
    paged_decode_attention: Callable | None  # None: the engine's gather + SDPA path
    route: Callable | None  # None (and below): the checkout lacks the problem
    moe_forward: Callable | None
    ep_moe: Callable | None
    bound: dict[str, str]  # op -> what it runs, e.g. "solution:triton", "reference"
    paged_decode_attention_fp8: Callable | None = None  # None: an fp8 pool takes gather + SDPA
    quant_fp8: Callable | None = None  # (T, H), group -> codes (T, H) e4m3, scales (T, H/group)
    dequant_fp8: Callable | None = None
    verify: Callable | None = None  # speculative sampling's accept / resample rule
    verify_greedy: Callable | None = None


def parse_spec(spec: str | dict[str, str]) -> dict[str, str]:
    """'attempt' | 'rms_norm=attempt,softmax=reference' | {op: choice} -> a choice for every op."""
    if isinstance(spec, str) and "=" in spec:
        spec = dict(part.split("=", 1) for part in spec.split(",") if part)
    if isinstance(spec, str) and (spec.endswith(".py") or "/" in spec):
        raise KernelError(f"kernels={spec!r}: a file implements one op: write op=PATH")
    if isinstance(spec, str):  # every op this checkout has a problem for
        return {k: spec if _exists(op.problem) else "auto" for k, op in OPS.items()}
    by_name = {**{k: k for k in OPS}, **{op.problem: k for k, op in OPS.items()}}
    unknown = [k for k in spec if k not in by_name]
    if unknown:
        raise KernelError(f"unknown op {unknown[0]!r} in kernels: one of {', '.join(OPS)}")
    return {**dict.fromkeys(OPS, "auto"), **{by_name[k]: v.strip() for k, v in spec.items()}}


def load_kernels(spec: str | dict[str, str], device: str) -> Kernels:
    choices = parse_spec(spec)
    mods, bound = {}, {}
    for name, choice in choices.items():
        mods[name], bound[name] = _bind(name, choice, device)
    rms = mods["rms_norm"]
    fused = getattr(rms, "fused_add_rms_norm", None) or functools.partial(_add_then_norm, rms)
    entries = {e: getattr(mods[name], e, None) for name, op in OPS.items() for e in op.entries}
    return Kernels(**entries, fused_add_rms_norm=fused, bound=bound)  # None: the op is absent


def _add_then_norm(mod: Any, x, residual, weight, eps: float = 1e-6):
    h = x + residual  # (T, H) the residual stream, in x.dtype as HF rounds it
    return mod.rms_norm(h, weight, eps), h


def auto_choice(name: str, device: str) -> str:
    """Solutions on a GPU; on a CPU the Triton interpreter is far too slow for a whole model,
    so Triton ops run their PyTorch reference there and Python/PyTorch ops their solution."""
    if name == "paged_attention" and (device != "cuda" or not _exists(OPS[name].problem)):
        return "none"
    if device == "cuda":
        return "solution"
    language = get_problem(OPS[name].problem).language  # a GPU machine defaults to Triton: not here
    return "reference" if language in ("triton", "cuda") else f"solution:{SOLUTION_STEMS[language]}"


def _exists(slug: str) -> bool:
    try:
        return get_problem(slug) is not None
    except UnknownProblem:
        return False


def _bind(name: str, choice: str, device: str) -> tuple[Any, str]:
    op, requested = OPS[name], choice
    choice = auto_choice(name, device) if choice == "auto" else choice
    try:
        if choice == "none":
            raise UnknownProblem("")
        problem = get_problem(op.problem)
    except UnknownProblem:
        if requested == "auto":
            return None, "gather + SDPA (engine)" if name == "paged_attention" else "absent"
        raise KernelError(f"{name}: problem {op.problem} is not in this checkout") from None
    try:
        ref = resolve(problem, choice)
        if ref.runs_triton and device == "cpu" and not interpreting():
            raise KernelError(
                f"{name}={choice} is a Triton kernel and this CPU has no interpreter on: set "
                "TRITON_INTERPRET=1 before anything imports triton (dojo does), or use reference"
            )
        mod = load(problem, ref)
    except ImplLoadError as e:
        raise KernelError(f"{name}={choice}: {e}") from None
    if ref.kind in ("attempt", "path", "wrong"):
        mod = _Named(name, f"{ref.spec}: {_short(ref.path)}", mod, op.entries)
    return mod, ref.spec


class _Named:
    """The module's entries, re-raising a stub's NotImplementedError with the op's name."""

    def __init__(self, op: str, label: str, mod: Any, entries: tuple[str, ...]) -> None:
        for entry in (*entries, "fused_add_rms_norm"):
            fn = getattr(mod, entry, None)
            if isinstance(fn, type):
                setattr(self, entry, _named_class(op, label, fn))
            elif fn is not None:
                setattr(self, entry, _named(op, label, fn))


def _named(op: str, label: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OpNotImplemented:
            raise
        except NotImplementedError as e:
            raise OpNotImplemented(f"{op} ({label}) is not implemented yet: {e}") from None

    return call


def _named_class(op: str, label: str, cls: type) -> type:
    methods = ("__init__", "match_prefix", "insert", "inc_lock", "dec_lock", "evict")
    wrapped = {m: _named(op, label, getattr(cls, m)) for m in methods if hasattr(cls, m)}
    return type(cls.__name__, (cls,), wrapped)


def kernel_table(device: str) -> list[dict[str, str]]:
    """Rows for `dojo engine kernels`: every problem, what the engine does with it here."""
    rows = []
    for name, op in OPS.items():
        choice = auto_choice(name, device)
        rows.append({"op": name, "problem": op.problem, "where": op.where, "auto": choice})
    rows += [{"op": "-", "problem": p, "where": w, "auto": "later"} for p, w in LATER.items()]
    rows += [
        {"op": "-", "problem": p, "where": w, "auto": "no hot path"} for p, w in NO_HOT_PATH.items()
    ]
    return rows


def tolerance(name: str, dtype: Any) -> tuple[float, float]:
    """(rtol, atol) of the op's problem for dtype: how far a kernel may sit from the reference."""
    tol = get_problem(OPS[name].problem).tol(dtype)
    return tol.rtol, tol.atol
