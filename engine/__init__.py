"""The inference engine: a small vLLM-shaped LLM built from the solutions' kernels."""
