"""`dojo engine bench --workload chat | bs1`. chat: a prefix-heavy multi-turn workload (seeded
conversations that share a long system prompt; each turn's prompt is the conversation so far,
the engine's own answers included), run with the radix prefix cache on and then off: the hit
rate from the scheduler's count of prompt tokens admitted from the cache, the speedup, and
whether the greedy answers agree. bs1: bs=1 decode alone against the HBM roofline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from engine.llm import LLM
from engine.sampler import SamplingParams
from grader.engine_tools.bench import BS1_PROMPT, decode_bs1, describe, release, sync


@dataclass(frozen=True, slots=True)
class ChatWorkload:
    conversations: int = 32  # run side by side: turn t of every conversation, then turn t + 1
    turns: int = 6
    system_len: int = 2048  # tokens of the system prompt every conversation starts with
    user_len: int = 128  # a user message has uniform([user_len // 2, user_len]) tokens
    answer_len: int = 64  # tokens of every answer (greedy, EOS ignored)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("conversations", "turns", "system_len", "user_len", "answer_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"chat workload: {name} must be >= 1, got {getattr(self, name)}")

    def messages(self, vocab: int) -> tuple[list[int], list[list[list[int]]]]:
        """The system prompt and every user message, [conversation][turn], as random token
        ids (like the nano-vllm workload's), from the seed alone."""
        rng = random.Random(self.seed)
        top = min(vocab, 10_000)
        system = [rng.randrange(top) for _ in range(self.system_len)]
        lo = max(self.user_len // 2, 1)
        users = [
            [[rng.randrange(top) for _ in range(rng.randint(lo, self.user_len))]
             for _ in range(self.turns)]
            for _ in range(self.conversations)
        ]  # fmt: skip
        return system, users

    def max_context(self) -> int:
        """Tokens of the longest conversation, its last answer included."""
        return self.system_len + self.turns * (self.user_len + self.answer_len)


def run_turns(llm: LLM, work: ChatWorkload) -> tuple[dict, list[list[list[int]]]]:
    """Every turn of every conversation through llm: the time and the scheduler's counters
    over the run, and the answers [turn][conversation]."""
    system, users = work.messages(llm.model_config.vocab_size)
    history = [list(system) for _ in users]  # each conversation so far
    params = SamplingParams(temperature=0, ignore_eos=True, max_tokens=work.answer_len)
    sched, device = llm.scheduler, llm.config.torch_device()
    counters = sched.cached_tokens, sched.preemptions
    answers, per_turn, prompt_tokens = [], [], 0
    sync(device)
    start = time.perf_counter()
    for t in range(work.turns):
        prompts = [h + u[t] for h, u in zip(history, users)]
        before = sched.cached_tokens
        outs = llm.generate(prompts, params, use_tqdm=False)
        answers.append([o.outputs[0].token_ids for o in outs])
        history = [p + a for p, a in zip(prompts, answers[-1])]
        prompt_tokens += (n := sum(map(len, prompts)))
        per_turn.append((sched.cached_tokens - before) / n)
    sync(device)
    seconds = time.perf_counter() - start
    cached, preempted = sched.cached_tokens - counters[0], sched.preemptions - counters[1]
    return _figures(seconds, prompt_tokens, cached, per_turn, answers, preempted), answers


def _figures(seconds, prompt_tokens, cached, per_turn, answers, preempted) -> dict:
    output_tokens = sum(len(a) for turn in answers for a in turn)
    return {
        "seconds": seconds,
        "prompt_tokens": prompt_tokens,
        "cached_prompt_tokens": cached,  # the scheduler's count: K/V reused, not computed
        "hit_rate": cached / prompt_tokens,
        "hit_rate_per_turn": per_turn,
        "output_tokens": output_tokens,
        "output_tokens_per_s": output_tokens / seconds,
        "tokens_per_s": (prompt_tokens + output_tokens) / seconds,  # prompt and output
        "preemptions": preempted,  # a preempted request's prompt is admitted (and counted) again
    }


def warm_up(llm: LLM, work: ChatWorkload) -> None:
    """Compile and capture before the clock: two turns of another seed's conversations, then
    one request ending per step so that decode runs every batch size up to the workload's."""
    run_turns(llm, replace(work, turns=min(work.turns, 2), seed=work.seed + 1))
    rng, n = random.Random(work.seed + 2), work.conversations
    prompts = [
        [rng.randrange(min(llm.model_config.vocab_size, 10_000)) for _ in range(5)]
        for _ in range(n)
    ]
    params = [SamplingParams(temperature=0, ignore_eos=True, max_tokens=i + 2) for i in range(n)]
    llm.generate(prompts, params, use_tqdm=False)


def _first_divergence(on: list, off: list) -> dict | None:
    """The first (turn, conversation, token) where the two runs' answers differ."""
    for t, (turn_on, turn_off) in enumerate(zip(on, off)):
        for c, (a, b) in enumerate(zip(turn_on, turn_off)):
            if a != b:
                i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
                return {"turn": t, "conversation": c, "token": i}
    return None


def chat_bench(model_dir: str, work: ChatWorkload, **llm_kwargs) -> dict:
    """The chat workload with the prefix cache on, then off (a fresh engine each, warmed up
    alike); the speedup of on over off and how many answers are identical."""
    runs, answers, result = {}, {}, {"workload": {"kind": "chat", **asdict(work)}}
    for name, on in (("cache_on", True), ("cache_off", False)):
        kwargs = {"max_model_len": work.max_context() + 16, **llm_kwargs}
        llm = LLM(model_dir, **{**kwargs, "enable_prefix_caching": on})
        result |= describe(llm)
        device = llm.config.torch_device()
        warm_up(llm, work)
        runs[name], answers[name] = run_turns(llm, work)
        del llm
        release(device)
    return result | runs | _agreement(runs, answers["cache_on"], answers["cache_off"])


def _agreement(runs: dict, on: list, off: list) -> dict:
    """The speedup of on over off, and the answers (of the same turn and conversation) that
    are identical, with the first (turn, conversation, token) where they differ."""
    pairs = [(a, b) for turn_on, turn_off in zip(on, off) for a, b in zip(turn_on, turn_off)]
    same = sum(a == b for a, b in pairs)
    return {
        "speedup": runs["cache_off"]["seconds"] / runs["cache_on"]["seconds"],
        "greedy_equal": same == len(pairs),
        "answers_equal": same,
        "answers": len(pairs),
        "first_divergence": _first_divergence(on, off),
    }


MODEL_FIELDS = ("arch", "vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                "num_kv_heads", "head_dim", "rope_theta", "tie_word_embeddings")  # fmt: skip


def bs1_bench(
    model_dir: str, bs1_tokens: int, copy_bandwidth: Callable[[], float] | None, **llm_kwargs
) -> dict:
    """bs=1 decode alone: an engine sized for one request (a small KV pool, one graph bucket),
    the model's shape and load time, and the decode rate against the copy bandwidth."""
    if bs1_tokens < 2:
        raise ValueError(f"--bs1-tokens {bs1_tokens}: a decode rate needs at least 2 tokens")
    start = time.perf_counter()
    kwargs = {"max_model_len": BS1_PROMPT + bs1_tokens + 16, "max_num_seqs": 1, **llm_kwargs}
    llm = LLM(model_dir, **kwargs)
    device = llm.config.torch_device()
    sync(device)
    load_seconds = time.perf_counter() - start
    mc = llm.model_config
    model = {f: getattr(mc, f) for f in MODEL_FIELDS}
    model["params"] = sum(p.numel() for p in llm.model.parameters())
    bandwidth = copy_bandwidth() if copy_bandwidth and device.type == "cuda" else None
    result = {**describe(llm), "workload": {"kind": "bs1"}, "model": model}
    result |= {
        "load_seconds": load_seconds,
        "bs1_decode": decode_bs1(llm, BS1_PROMPT, bs1_tokens, bandwidth),
    }
    return result
