"""`dojo engine check`: the model on your kernels, one op at a time, against the references.

For each op bound to something other than the reference, the prompt set is generated greedily
twice (the second pass reuses the prefix cache) with that op swapped in and every other op on
its reference; each call of the op is also run through the reference on the same inputs, so
the report has the op's max error inside the model, the first token where the generation left
the all-reference one, and a verdict.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import EngineConfig, ModelConfig
from engine.llm import LLM
from engine.ops import OPS, OpNotImplemented, load_kernels, parse_spec, tolerance
from engine.sampler import SamplingParams

PREAMBLE = "Answer in one short sentence, as a careful engineer would. "
QUESTIONS = [
    "What is the capital of France?",
    "What does RMSNorm divide by?",
    "Why does softmax subtract the max?",
    "What is the capital of France?",
]
# shared prefixes and a duplicate, for the prefix cache; small pages and a small pool, so that
# pages are matched, shared, evicted and preempted while the ops run
PROMPTS = [PREAMBLE + q for q in QUESTIONS] + ["1, 2, 3, 4, 5, 6, 7, 8,"]
SETTINGS = dict(block_size=4, kv_cache_tokens=160, max_num_seqs=4)
TOP = 5  # log-probs kept per step, to tell a split at a near-tie from a real divergence
TENSOR_OPS = {
    "rms_norm": ("rms_norm", "fused_add_rms_norm"),
    "softmax": ("softmax",),
    "paged_attention": ("paged_decode_attention",),
    "moe": ("moe_forward",),
    "fp8_quant": ("quant_fp8", "dequant_fp8"),
}
OUTPUT_DTYPE = {"fp8_quant": torch.float32}  # its codes and scales: not in the model's dtype
EXERCISE = {  # what makes the engine call the op at all: an fp8 pool, n-gram speculation
    "fp8_quant": {"kv_cache_dtype": "fp8"},
    "spec_decode": {"speculative": {"ngram": 2, "num_tokens": 3}},
}


@dataclass(slots=True)
class OpReport:
    op: str
    kernel: str
    verdict: str  # ok | diverged | mismatch | not_attempted | not_exercised | error | needs_gpu
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    calls: int = 0
    first_diff: dict | None = None  # {"prompt", "token", "got", "want"}
    message: str = ""


@dataclass(slots=True)
class _Recorder:
    """Calls the op under test and the reference on the same inputs; keeps the worst error.
    Without a reference (an entry with no tensor output to compare) it only counts the calls:
    an op the model never calls is not reported as correct."""

    fn: object
    ref: object = None
    rtol: float = 0.0
    atol: float = 0.0
    judge: object = None  # the problem's own check, where plain tolerances are not its rule
    max_abs: float = 0.0
    max_rel: float = 0.0
    out_of_tol: bool = False
    calls: int = 0

    def __call__(self, *args, **kwargs):
        out = self.fn(*args, **kwargs)
        self.calls += 1
        if self.ref is None:
            return out
        want = self.ref(*args, **kwargs)
        pairs = zip(out, want) if isinstance(out, tuple) else [(out, want)]
        for o, w in pairs:
            o, w = o.float(), w.float()  # (..., N)
            diff = torch.where(torch.isnan(o) & ~torch.isnan(w), torch.inf, (o - w).abs())
            diff = diff.nan_to_num(0.0)  # both NaN: agreed
            self.max_abs = max(self.max_abs, diff.max().item())
            self.max_rel = max(self.max_rel, (diff / w.abs().clamp_min(1e-6)).max().item())
            if self.judge is None:
                self.out_of_tol |= bool((diff > self.atol + self.rtol * w.abs()).any())
        if self.judge is not None:
            try:
                self.judge(out, want, args)
            except AssertionError:
                self.out_of_tol = True
        return out


def _fp8_codes(out, want, args) -> None:
    """quant_fp8 by fp8_quant's rule: scales within two fp32 ulps, each code the reference's or
    an accepted neighbour at a rounding tie (raw tolerances would fail a correct kernel)."""
    from grader.harness.hooks import hooks_for
    from grader.problem.registry import get_problem

    hooks_for(get_problem("fp8_quant")).compare(out, want, {"x": args[0], "group_size": args[1]})


JUDGES = {"quant_fp8": _fp8_codes}


def _function(entry) -> bool:
    return callable(entry) and not isinstance(entry, type)  # RadixCache: a class, not counted


def _generate(model: str, kernels, prompts, max_tokens: int, **kw) -> Run:
    """Greedy tokens of the prompt set, three times over (later passes hit the prefix cache),
    with each step's top TOP log-probs (they run softmax; speculation skips them)."""
    llm = LLM(model, kernels=kernels, **kw)
    lp = None if kw.get("speculative") else TOP
    params = SamplingParams(temperature=0, max_tokens=max_tokens, logprobs=lp)
    runs = [llm.generate(prompts, params, use_tqdm=False) for _ in range(3)]
    outs = [o.outputs[0] for run in runs for o in run]
    return Run([o.token_ids for o in outs], [o.logprobs or [] for o in outs])


@dataclass(frozen=True, slots=True)
class Run:
    tokens: list[list[int]]  # per sequence
    logprobs: list[list]  # per sequence, per token: (logprob, {token id: logprob} of the top TOP)


def _near_tie(op: str, d: dict, got: Run, want: Run) -> str | None:
    """Whether the greedy paths split where each run's pick is in the other's top TOP (vLLM's
    test of close log-probs): a tie that numbers within the problem's tolerance may break
    either way. The note for the report, or None."""
    i, j = d["pass"] * (len(got.tokens) // 3) + d["prompt"], d["token"]
    if j >= min(len(got.logprobs[i]), len(want.logprobs[i])):
        return None  # no log-probs there (speculation), or one run had stopped
    (_, mine), (_, theirs) = got.logprobs[i][j], want.logprobs[i][j]
    if d["got"] not in theirs or d["want"] not in mine:
        return None
    gap = theirs[d["want"]] - theirs[d["got"]]
    apart = f"{gap:.2g} nats apart" if gap else "tied exactly"
    return (
        f"greedy paths split at a near-tie (tokens {d['got']} vs {d['want']}, {apart} under "
        f"the reference), and every call was within {op}'s tolerance"
    )


def _first_diff(got: list[list[int]], want: list[list[int]]) -> dict | None:
    for i, (g, w) in enumerate(zip(got, want)):
        for j in range(max(len(g), len(w))):
            a, b = (g[j] if j < len(g) else None), (w[j] if j < len(w) else None)
            if a != b:
                n = len(got) // 3
                return {"pass": i // n, "prompt": i % n, "token": j, "got": a, "want": b}
    return None


def check_kernels(
    model: str, kernels="attempt", prompts=PROMPTS, max_tokens: int = 16, **llm_kwargs
) -> list[OpReport]:
    llm_kwargs = {**SETTINGS, **llm_kwargs}
    cfg = EngineConfig(model=model, **llm_kwargs)
    device, dtype = cfg.torch_device().type, cfg.torch_dtype()
    reference = load_kernels("reference", device)
    want = _generate(model, reference, prompts, max_tokens, **llm_kwargs)
    reports = []
    moe = ModelConfig.from_dir(Path(model)).num_experts > 0
    for op, choice in parse_spec(kernels).items():
        # ep_moe needs W processes (tests/engine/test_moe.py); a dense model never calls moe
        if choice in ("reference", "auto") or op == "ep_moe" or (op == "moe" and not moe):
            continue
        if op == "paged_attention" and device != "cuda":
            reports.append(OpReport(op, choice, "needs_gpu", message="decode kernels run on a GPU"))
            continue
        kw = {**llm_kwargs, **EXERCISE.get(op, {})}
        run = functools.partial(_generate, model, prompts=prompts, max_tokens=max_tokens, **kw)
        base = _generate(model, reference, prompts, max_tokens, **kw) if op in EXERCISE else want
        reports.append(_check_op(op, choice, reference, base, run, device, dtype))
    return reports


def _check_op(op, choice, reference, want, run, device, dtype) -> OpReport:
    report = OpReport(op, choice, "ok")
    try:
        user = load_kernels({**parse_spec("reference"), op: choice}, device)
        report.kernel = user.bound[op]
        recorders = _recorders(op, user, reference, dtype)
        got = run(kernels=dataclasses.replace(user, **recorders))
    except OpNotImplemented as e:
        return dataclasses.replace(report, verdict="not_attempted", message=str(e))
    except Exception as e:  # noqa: BLE001 - a user's kernel may fail in any way: it is a verdict
        return dataclasses.replace(report, verdict="error", message=f"{type(e).__name__}: {e}")
    if recorders and not any(r.calls for r in recorders.values()):
        why = "the model never called it on these prompts: nothing was checked"
        return dataclasses.replace(report, verdict="not_exercised", message=why)
    report.first_diff = _first_diff(got.tokens, want.tokens)
    recorders = {e: r for e, r in recorders.items() if r.ref is not None}  # the compared ones
    if recorders:
        report.max_abs_err = max(r.max_abs for r in recorders.values())
        report.max_rel_err = max(r.max_rel for r in recorders.values())
        report.calls = sum(r.calls for r in recorders.values())
    off = any(r.out_of_tol for r in recorders.values())
    # forgiven only where every call was compared with the reference and passed
    compared = bool(recorders) and not off and report.first_diff is not None
    tie = _near_tie(op, report.first_diff, got, want) if compared else None
    report.verdict = "diverged" if report.first_diff and not tie else "mismatch" if off else "ok"
    report.message = tie or ""
    return report


def _recorders(op, user, reference, dtype) -> dict[str, _Recorder]:
    """A recorder per function entry of the op: compared with the reference where the op's
    entries return tensors (TENSOR_OPS), counted only otherwise (a class, RadixCache, is left)."""
    entries = dict.fromkeys((*OPS[op].entries, *TENSOR_OPS.get(op, ())))
    recorders = {}
    for entry in entries:
        fn, ref = getattr(user, entry), getattr(reference, entry)
        if not _function(fn):
            continue
        if entry in TENSOR_OPS.get(op, ()) and ref is not None:
            rtol, atol = tolerance(op, OUTPUT_DTYPE.get(op, dtype))
            recorders[entry] = _Recorder(fn, ref, rtol, atol, JUDGES.get(entry))
        else:
            recorders[entry] = _Recorder(fn)
    return recorders


def verdict(reports: list[OpReport]) -> str:
    kinds = {r.verdict for r in reports}
    if kinds & {"diverged", "mismatch", "error"}:
        return "failed"
    if "not_attempted" in kinds:
        return "not_attempted"
    return "passed" if "ok" in kinds else "nothing_checked"
