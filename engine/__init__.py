"""Kernel Dojo's inference engine: `LLM(model).generate(prompts, SamplingParams(...))`."""

from engine import ops  # noqa: F401  first: it turns the Triton interpreter on for a CPU
from engine.llm import LLM, CompletionOutput, RequestOutput
from engine.sampler import SamplingParams

__all__ = ["LLM", "CompletionOutput", "RequestOutput", "SamplingParams"]
