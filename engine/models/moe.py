"""Mixture-of-experts decoders (Qwen3-MoE, Mixtral): the Llama-family model of llama.py with the
MLP of the sparse layers replaced by a routed block of SwiGLU experts, stacked at load time into
(E, ...) tensors and run through the kernel table: moe_dispatch's moe_forward in one process,
ep_all_to_all's ep_moe under expert parallelism (engine/dist.py), where a rank holds L = E / W.

Letters: T tokens, H hidden size, E experts (L on this rank), k experts per token, F each
expert's intermediate size.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import ModelConfig, ModelError, copy_weight
from engine.models.llama import MLP, LlamaForCausalLM
from engine.ops import Kernels

# model.layers.{i}.mlp.experts.{e}.gate_proj.weight (Qwen3-MoE) or
# model.layers.{i}.block_sparse_moe.experts.{e}.w1.weight (Mixtral), one tensor per expert
PER_EXPERT = re.compile(
    r"(.+)\.(?:mlp|block_sparse_moe)\.experts\.(\d+)\.(gate_proj|up_proj|down_proj|w1|w3|w2)"
    r"\.weight"
)
# transformers 5's in-memory layout, fused: experts.gate_up_proj (E, 2F, H), down_proj (E, H, F)
FUSED = re.compile(r"(.+)\.mlp\.experts\.(gate_up_proj|down_proj)")
KIND = {"gate_proj": "gate", "up_proj": "up", "down_proj": "down"}
KIND |= {"w1": "gate", "w3": "up", "w2": "down"}  # Mixtral's names


class SparseMoE(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels: Kernels, ep: Any = None) -> None:
        super().__init__()
        E, Fd, H = cfg.num_experts, cfg.moe_intermediate_size, cfg.hidden_size
        self.E, self.L, self.k = E, E // (ep.world if ep else 1), cfg.top_k
        self.norm = cfg.norm_topk_prob
        self.first = ep.rank * self.L if ep else 0  # global id of this rank's first expert
        self.gate = nn.Linear(H, E, bias=False)  # the router: logits over all E experts
        self.w_gate = nn.Parameter(torch.empty(self.L, Fd, H))  # (L, F, H)
        self.w_up = nn.Parameter(torch.empty(self.L, Fd, H))  # (L, F, H)
        self.w_down = nn.Parameter(torch.empty(self.L, H, Fd))  # (L, H, F)
        self.kernels, self.ep = kernels, ep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.gate(x)  # (T, E) in x.dtype, as HF computes them
        if self.ep is not None:
            weights, ids = self.route(logits)  # (T, k) each
            return self.ep.moe(self.kernels.ep_moe, x, ids, weights, self.expert, self.E)
        out = self.kernels.moe_forward(x, logits, self.w_gate, self.w_up, self.w_down, self.k)
        if self.norm:
            return out  # (T, H)
        # moe_dispatch renormalises the k weights to sum to 1; without norm_topk_prob they are
        # the plain softmax probabilities, whose sum is the top-k mass: scale back by it
        probs = torch.softmax(logits.float(), dim=-1)  # (T, E)
        mass = probs.topk(self.k, dim=-1).values.sum(-1, keepdim=True)  # (T, 1), tie-proof
        return (out.float() * mass).to(out.dtype)  # (T, H)

    def route(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights (T, k) fp32, ids (T, k)): the kernel's route, un-renormalised if asked."""
        weights, ids = self.kernels.route(logits, self.k)
        if not self.norm:
            weights = torch.softmax(logits.float(), dim=-1).gather(1, ids)  # (T, k)
        return weights, ids

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """Expert e (a global id this rank owns) on rows x (n, H): the expert_fn of ep_moe."""
        i = e - self.first
        h = F.silu(x @ self.w_gate[i].T) * (x @ self.w_up[i].T)  # (n, F)
        return h @ self.w_down[i].T  # (n, H)


def build_moe(cfg: ModelConfig, kernels: Kernels, max_positions: int, ep: Any = None):
    """The model with SparseMoE in cfg.sparse_layers and the dense MLP elsewhere."""
    W = ep.world if ep else 1
    if kernels.moe_forward is None or (ep and kernels.ep_moe is None):
        raise ModelError("MoE models need the moe_dispatch and ep_all_to_all problems")
    if cfg.num_experts % W:
        raise ModelError(f"{cfg.num_experts} experts do not split over {W} expert-parallel ranks")
    if ep and kernels.bound.get("ep_moe") == "reference":
        raise ModelError(
            "ep_moe=reference runs every expert in one process: expert parallelism needs "
            "ep_all_to_all's solution or an attempt"
        )
    sparse = set(cfg.sparse_layers)

    def mlp_for(i: int) -> nn.Module:
        return SparseMoE(cfg, kernels, ep) if i in sparse else MLP(cfg)

    return LlamaForCausalLM(cfg, kernels, max_positions, mlp_for)


def copy_moe_weight(model: nn.Module, name: str, f) -> list[str] | None:
    """Copy checkpoint tensor `name` (read from safetensors handle f only when this rank owns
    it) into the stacked experts or the router. Returns the keys it filled, [] for another
    rank's expert, None when name is no MoE weight."""
    if ".block_sparse_moe.gate." in name:  # Mixtral's router
        ours = name.replace(".block_sparse_moe.", ".mlp.")
        router = _moe_at(model, ours.rsplit(".mlp.", 1)[0], name).gate.weight.data
        copy_weight(router, f.get_tensor(name), name)
        return [ours]
    if m := PER_EXPERT.fullmatch(name):
        layer, e, kind = m[1], int(m[2]), KIND[m[3]]
        moe = _moe_at(model, layer, name)
        if e >= moe.E:
            raise ModelError(f"checkpoint weight {name}: expert {e} of {moe.E} does not exist")
        if not moe.first <= e < moe.first + moe.L:
            return []
        copy_weight(getattr(moe, f"w_{kind}").data[e - moe.first], f.get_tensor(name), name)
        return [f"{layer}.mlp.experts.{e}.{kind}_proj"]
    if m := FUSED.fullmatch(name):
        moe = _moe_at(model, m[1], name)
        w = f.get_slice(name)[moe.first : moe.first + moe.L]  # (L, 2F, H) | (L, H, F)
        parts = {"down": w} if m[2] == "down_proj" else dict(zip(("gate", "up"), w.chunk(2, 1)))
        for kind, part in parts.items():
            copy_weight(getattr(moe, f"w_{kind}").data, part, name)
        ids = range(moe.first, moe.first + moe.L)
        return [f"{m[1]}.mlp.experts.{e}.{kind}_proj" for e in ids for kind in parts]
    return None


def _moe_at(model: nn.Module, layer: str, name: str) -> SparseMoE:
    try:
        moe = model.get_submodule(f"{layer}.mlp")
    except AttributeError:
        moe = None
    if not isinstance(moe, SparseMoE):
        raise ModelError(f"checkpoint weight {name} has no place: {layer} has no MoE block")
    return moe


def expected_experts(model: nn.Module) -> dict[str, set[str]]:
    """Each stacked expert parameter -> the keys copy_moe_weight records while filling it."""
    out = {}
    for prefix, moe in model.named_modules():
        if isinstance(moe, SparseMoE):
            layer = prefix.removesuffix(".mlp")
            for kind in ("gate", "up", "down"):
                ids = range(moe.first, moe.first + moe.L)
                out[f"{prefix}.w_{kind}"] = {f"{layer}.mlp.experts.{e}.{kind}_proj" for e in ids}
    return out
