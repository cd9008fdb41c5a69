"""The offline API, shaped like vLLM's: LLM(model).generate(prompts, SamplingParams) and a
streaming generator for one prompt; tokenization, chat template and stop strings live here."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from engine.config import EngineConfig
from engine.graphs import CudaGraph, DecodeGraphs
from engine.kv_cache import KVPool, PageTable, page_bytes, pages_for_memory
from engine.models.loader import load_model, load_tokenizer
from engine.ops import Kernels, load_kernels
from engine.runner import ModelRunner
from engine.sampler import Sampler, SamplingParams
from engine.scheduler import Scheduler, Sequence
from engine.spec import Speculator, load_draft

DEFAULT_MAX_LEN = 8192  # the context cap when max_model_len is not given


class RequestError(ValueError):
    """A request the engine cannot serve; str() is the one line for the user."""


@dataclass(slots=True)
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None
    logprobs: list | None = None  # per token: (logprob, {token id: logprob} of the top n)


@dataclass(slots=True)
class RequestOutput:
    request_id: int
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)
    finished: bool = True


class LLM:
    ep = None  # engine.dist.ExpertParallel in EPLLM: this rank's share of the experts

    def __init__(self, model: str | Path, **kwargs) -> None:
        self.config = cfg = EngineConfig(model=str(model), **kwargs)
        device, dtype = cfg.torch_device(), cfg.torch_dtype()
        given = cfg.kernels
        self.kernels = given if isinstance(given, Kernels) else load_kernels(given, device.type)
        path = Path(model).expanduser()
        limit = cfg.max_model_len or DEFAULT_MAX_LEN
        loaded = load_model(path, self.kernels, dtype, device, limit, self.ep)
        self.model, self.model_config = loaded
        mc = self.model_config
        self.max_model_len = min(limit, mc.max_position_embeddings)
        self.tokenizer = load_tokenizer(path)
        self.draft = load_draft(cfg.speculative, self.model, self.kernels, dtype, device, limit)
        fp8, graphs = cfg.kv_cache_dtype == "fp8", self._decode_graph_type(device)
        S, pages = cfg.block_size, self._num_pages(dtype.itemsize, fp8)
        self.pool = KVPool(  # with graphs, one more page: the padding rows' scratch page
            mc.num_layers, pages + bool(graphs), S, mc.num_kv_heads, mc.head_dim, dtype, device, fp8
        )
        radix = self.kernels.RadixCache if cfg.enable_prefix_caching else None
        self.pages = PageTable(pages, S, radix)
        eos = set(mc.eos_token_ids) | {getattr(self.tokenizer, "eos_token_id", None)} - {None}
        self.scheduler = Scheduler(
            self.pages, cfg.max_num_seqs, cfg.max_num_batched_tokens, self.max_model_len, tuple(eos)
        )
        self.runner = ModelRunner(self.model, self.pool, Sampler(self.kernels.softmax), S, device)
        if graphs:
            self.runner.graphs = DecodeGraphs(
                self.model, self.runner.kv, self.runner.scale, S, self.max_model_len,
                cfg.max_num_seqs, pages, device, graphs,
            )  # fmt: skip
        self.spec = Speculator(self, pages) if cfg.speculative else None
        self.scheduler.lookahead = self.spec.k if self.spec else 0

    def _decode_graph_type(self, device) -> type | None:
        """CudaGraph where decode steps can be captured: a GPU, the paged kernel for this pool
        (gather + SDPA and MoE routing have data-dependent shapes), one rank, no speculation."""
        cfg, k = self.config, self.kernels
        fp8 = cfg.kv_cache_dtype == "fp8"
        kernel = k.paged_decode_attention_fp8 if fp8 else k.paged_decode_attention
        eager = cfg.enforce_eager or cfg.speculative or self.ep is not None
        dense = not self.model_config.num_experts
        return CudaGraph if device.type == "cuda" and kernel and dense and not eager else None

    def _num_pages(self, itemsize: int, fp8: bool) -> int:
        """KV pages: the explicit token budget, or what fits in memory; never more than
        max_num_seqs sequences of max_model_len tokens can use."""
        cfg, S = self.config, self.config.block_size
        if cfg.kv_cache_tokens:
            pages = cfg.kv_cache_tokens // S
        else:
            mc, (draft, layers) = self.model_config, self.draft
            size = page_bytes(S, mc.kv_bytes_per_token, mc.head_dim, itemsize, fp8)
            if draft is not None:  # the draft's pool: as many pages, its layers, the model dtype
                size += S * itemsize * draft.cfg.kv_bytes_per_token * layers // draft.cfg.num_layers
            pages = pages_for_memory(size, cfg.torch_device(), cfg.gpu_memory_utilization)
        pages = min(pages, cfg.max_num_seqs * -(-self.max_model_len // S))
        if pages < 1:
            raise RequestError("no memory left for the KV cache: pass kv_cache_tokens")
        return pages

    # ---- requests in, tokens out ----

    def encode(self, prompt: str | list[int] | list[dict], chat: bool = False) -> list[int]:
        """Token ids of a text, of token ids, or of chat messages ({"role", "content"} dicts,
        or a text taken as one user message when chat is set) through the chat template."""
        messages = prompt if prompt and isinstance(prompt[0], dict) else None
        if messages is None and not isinstance(prompt, str):
            return [operator.index(t) for t in prompt]  # TypeError for 5.5, which int() floors
        if self.tokenizer is None:
            raise RequestError(f"{self.config.model} has no tokenizer: pass token ids")
        if messages is None and not chat:
            return self.tokenizer(prompt).input_ids
        messages = messages or [{"role": "user", "content": prompt}]
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise RequestError(f"{self.config.model} has no chat template: drop --chat")
        text = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def add_request(self, prompt: str | list[int], params: SamplingParams) -> Sequence:
        self.scheduler.add(seq := self._sequence(prompt, params))
        return seq

    def _sequence(self, prompt: str | list[int], params: SamplingParams) -> Sequence:
        """A request checked against the model and the pool (RequestError if it cannot run)."""
        ids = self.encode(prompt)
        if not ids:
            raise RequestError("empty prompt: give at least one token")
        if len(ids) >= self.max_model_len:
            raise RequestError(
                f"prompt of {len(ids)} tokens does not fit the context of {self.max_model_len}"
            )
        need = min(len(ids) + params.max_tokens, self.max_model_len)
        if need > self.pages.total * self.config.block_size:
            raise RequestError(
                f"KV cache of {self.pages.total * self.config.block_size} tokens is too small "
                f"for one request of {need} tokens: raise kv_cache_tokens or lower max_tokens"
            )
        V = self.model_config.vocab_size  # checked here: a bad id would fail a step, not this
        if bad := [t for t in ids if not 0 <= t < V]:
            raise RequestError(f"token id {bad[0]} is outside the vocabulary [0, {V})")
        return Sequence(ids, params)

    def abort(self, seq: Sequence) -> None:
        """Drop a request that is not finished (its client went away); its pages are freed."""
        self.scheduler.abort(seq)

    def step(self) -> list[Sequence]:
        """Run one batch; returns the sequences that finished in it."""
        batch = self.scheduler.schedule()
        return self.spec.step(self, batch) if self.spec else self.run_batch(batch)

    def run_batch(self, batch: list[tuple[Sequence, int]]) -> list[Sequence]:
        tokens, lps = self.runner.run(batch)
        ending = [s for s, n in batch if s.num_computed + n == len(s.tokens)]
        for seq, lp in zip(ending, lps or []):
            seq.logprobs.append(lp)
        finished = self.scheduler.update(batch, tokens)
        return finished + [seq for seq in ending if self._hit_stop(seq)]

    def _hit_stop(self, seq: Sequence) -> bool:
        """A stop string in the output cuts the text before it and finishes seq with "stop",
        also when its last token was the last max_tokens allowed. True if seq finished now."""
        stops, was = seq.params.stops, seq.finish_reason
        if not stops or self.tokenizer is None or was not in (None, "length"):
            return False
        text = self.tokenizer.decode(seq.output, skip_special_tokens=True)
        at = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
        if at >= 0:
            seq.text, seq.finish_reason = text[:at], "stop"
            if was is None:
                self.scheduler.finish(seq, "stop")
        return at >= 0 and was is None

    def _output(self, seq: Sequence, prompt) -> RequestOutput:
        text = seq.text
        if text is None:
            tok = self.tokenizer
            text = tok.decode(seq.output, skip_special_tokens=True) if tok is not None else ""
        lps = seq.logprobs if seq.params.logprobs is not None else None
        done = CompletionOutput(0, text, list(seq.output), seq.finish_reason, lps)
        given = prompt if isinstance(prompt, str) else None
        return RequestOutput(seq.id, given, seq.tokens[: seq.prompt_len], [done])

    def generate(
        self, prompts, sampling_params: SamplingParams | list | None = None, use_tqdm: bool = True
    ) -> list[RequestOutput]:
        """Outputs in the order of `prompts` (strings or lists of token ids)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        params = sampling_params or SamplingParams()
        params = params if isinstance(params, list) else [params] * len(prompts)
        if len(params) != len(prompts):
            raise RequestError(f"{len(prompts)} prompts but {len(params)} sampling params")
        seqs = [self._sequence(p, sp) for p, sp in zip(prompts, params)]  # all, or none added
        for seq in seqs:
            self.scheduler.add(seq)
        with Progress(transient=True, disable=not use_tqdm or len(seqs) < 2) as bar:
            task = bar.add_task("generating", total=len(seqs))  # finished requests
            while not self.scheduler.done():
                bar.advance(task, len(self.step()))
        return [self._output(s, p) for s, p in zip(seqs, prompts)]

    def stream(self, prompt: str | list[int], params: SamplingParams) -> Iterator[RequestOutput]:
        """One request's output after each step that grew it; `finished` on the last."""
        seq = self.add_request(prompt, params)
        while seq.finish_reason is None:
            self.step()
            out = self._output(seq, prompt)
            out.finished = seq.finish_reason is not None
            yield out
