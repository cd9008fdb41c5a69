"""What `dojo engine bench` prints without --json: a table per workload and its figures."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_bench(console: Console, result: dict) -> None:
    kind = result["workload"]["kind"]
    if kind == "chat":
        _print_chat(console, result)
        return
    if kind == "nano-vllm":
        table = Table("", "output tok/s", "seconds", "output tokens")
        for name in ("engine", "hf"):
            if name in result:
                r = result[name]
                tok_s, secs = f"{r['output_tokens_per_s']:.1f}", f"{r['seconds']:.2f}"
                table.add_row(name, tok_s, secs, str(r["output_tokens"]))
        console.print(table)
        if "speedup_vs_hf" in result:
            console.print(f"engine / HF generate: {result['speedup_vs_hf']:.2f}x")
    else:
        m = result["model"]
        console.print(
            f"model: {m['arch']}, {m['params'] / 1e9:.2f}B parameters, {m['num_layers']} layers, "
            f"hidden {m['hidden_size']}; loaded in {result['load_seconds']:.1f} s"
        )
    b = result["bs1_decode"]
    frac = f", {b['roofline_fraction']:.1%} of the HBM roofline" if "roofline_fraction" in b else ""
    graphs = "CUDA graphs" if result["cuda_graphs"] else "eager"
    console.print(
        f"bs=1 decode: {b['tokens_per_s']:.1f} tok/s ({b['ms_per_token']:.2f} ms/token){frac} "
        f"on {result['device']}, {graphs}"
    )


def _print_chat(console: Console, result: dict) -> None:
    w = result["workload"]
    table = Table("prefix cache", "seconds", "tok/s (prompt + output)", "hit rate", "preempted")
    for name in ("cache_on", "cache_off"):
        r = result[name]
        table.add_row(
            name.removeprefix("cache_"),
            f"{r['seconds']:.2f}",
            f"{r['tokens_per_s']:.0f}",
            f"{r['hit_rate']:.1%}",
            str(r["preemptions"]),
        )
    console.print(
        f"{w['conversations']} conversations x {w['turns']} turns, system prompt "
        f"{w['system_len']} tokens, answers {w['answer_len']} tokens, on {result['device']}"
    )
    console.print(table)
    console.print(f"prefix cache on / off: {result['speedup']:.2f}x")
    same = f"{result['answers_equal']} of {result['answers']} answers identical"
    d = result["first_divergence"]
    where = f" (first divergence: turn {d['turn']}, conversation {d['conversation']}, token " \
        f"{d['token']})" if d else ""  # fmt: skip
    console.print(f"greedy, on vs off: {same}{where}")
