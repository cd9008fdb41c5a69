"""Expert parallelism over torch.distributed: W processes (`torchrun --nproc-per-node W -m engine`
or `dojo engine run --ep W`), each holding every dense layer and E/W of each MoE layer's experts.
Rank 0 schedules and samples; each step it broadcasts the batch layout (engine.runner.Chunk),
every rank runs the same forward on its own copy of the KV cache, and each MoE layer sends a
1/W share of the step's tokens to the experts' owners through the ep_all_to_all solution, then
gathers all W shares back. NCCL with one GPU per rank, gloo on the CPU."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

from engine.llm import LLM
from engine.runner import Chunk, ModelRunner

LAUNCH_HINT = "launch with `torchrun --nproc-per-node W -m engine ...` or `dojo engine run --ep W`"


@dataclass(frozen=True, slots=True)
class ExpertParallel:
    """This process's place in the default group: rank r holds experts [r*E/W, (r+1)*E/W)."""

    rank: int
    world: int
    device: torch.device  # where collectives want their tensors: the GPU under NCCL

    @classmethod
    def current(cls) -> ExpertParallel:
        if not dist.is_initialized():
            raise ValueError(f"expert parallelism needs torch.distributed: {LAUNCH_HINT}")
        nccl = dist.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    def moe(self, ep_moe: Callable, x, ids, weights, expert_fn: Callable, num_experts: int):
        """Every rank holds the same x (T, H): rank r sends rows [r*n, (r+1)*n) through ep_moe,
        and an all_gather of the W padded shares gives every rank the whole (T, H) output."""
        T, W = x.shape[0], self.world
        n = -(-T // W)  # rows per rank; the last shares may be short, or empty
        lo, hi = min(self.rank * n, T), min(self.rank * n + n, T)
        y = ep_moe(x[lo:hi], ids[lo:hi], weights[lo:hi], expert_fn, num_experts)  # (hi-lo, H)
        shares = [x.new_empty(n, x.shape[1]) for _ in range(W)]  # (n, H) each
        dist.all_gather(shares, F.pad(y, (0, 0, 0, n - (hi - lo))))
        return torch.cat(shares)[:T]  # (T, H)

    def agree_min(self, value: int) -> int:
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    def broadcast(self, chunks: list[Chunk] | None) -> list[Chunk] | None:
        """Rank 0's chunks (None: stop) on every rank."""
        box = [chunks]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]


class _LeaderRunner(ModelRunner):
    """Rank 0's runner: every forward is announced to the other ranks first."""

    def __init__(self, ep: ExpertParallel, *args) -> None:
        super().__init__(*args)
        self.ep = ep

    def forward(self, chunks: list[Chunk]) -> torch.Tensor:
        self.ep.broadcast(chunks)
        return super().forward(chunks)


class EPLLM(LLM):
    """An LLM on this rank's experts. Rank 0 generates as usual and calls stop() when done;
    every other rank calls follow(), which returns once rank 0 stops."""

    def __init__(self, model, **kwargs) -> None:
        self.ep = ExpertParallel.current()
        super().__init__(model, **kwargs)
        if self.ep.rank == 0:
            r = self.runner
            self.runner = _LeaderRunner(self.ep, r.model, r.pool, r.sampler, r.S, r.device)

    def _num_pages(self, itemsize: int, fp8: bool) -> int:
        return self.ep.agree_min(super()._num_pages(itemsize, fp8))  # rank 0's ids fit all ranks

    def follow(self) -> None:
        while (chunks := self.ep.broadcast(None)) is not None:
            self.runner.forward(chunks)

    def stop(self) -> None:
        self.ep.broadcast(None)


def init_from_env() -> torch.device:
    """Join the group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ValueError(f"no RANK/WORLD_SIZE in the environment: {LAUNCH_HINT}")
    if not torch.cuda.is_available():
        dist.init_process_group("gloo")
        return torch.device("cpu")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if device.index >= torch.cuda.device_count():
        raise ValueError(f"rank {device.index} needs GPU {device.index}: lower W to the GPUs here")
    torch.cuda.set_device(device)
    dist.init_process_group("nccl", device_id=device)
    return device
