"""`dojo engine run|serve|check|bench|kernels`: thin typer commands over engine/. Every user error
(bad model directory, unknown kernel, prompt too long, ...) is one line and exit code 2."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time

import typer
from rich.markup import escape
from rich.table import Table

from grader.cli.common import fail, out

engine_app = typer.Typer(
    help="Run, check and benchmark the inference engine built from the solutions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
MODEL_HELP = "a local Hugging Face model directory (default: SmolLM2-135M-Instruct)"
WORKLOAD_HELP = "throughput (nano-vllm, vs HF; bs=1 decode) | chat (prefix cache on vs off) | bs1"
KERNELS_HELP = "auto | solution | reference | attempt | op=choice,... (choice: --impl grammar)"


@contextlib.contextmanager
def _user_errors():
    """The engine's user errors (ValueError kinds, a stub's NotImplementedError) as one line."""
    try:
        yield
    except (ValueError, NotImplementedError, OSError, RuntimeError) as e:  # ModelFetchError too
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)


def _model_dir(model: str | None) -> str:
    if model:
        return model
    from engine.weights import default_model_dir  # gguf, tokenizers: only when it is needed

    with _user_errors():
        return str(default_model_dir())


def _llm(model: str | None, kernels: str, **kwargs):
    from engine import LLM

    with _user_errors():
        return LLM(_model_dir(model), kernels=kernels, **kwargs)


@engine_app.command("run")
def run(
    prompt: str = typer.Argument(..., help="the prompt text"),
    chat: bool = typer.Option(False, "--chat", help="wrap the prompt in the chat template"),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    kernels: str = typer.Option("auto", "--kernels", help=KERNELS_HELP),
    max_tokens: int = typer.Option(64, "--max-tokens", help="tokens to generate at most"),
    temperature: float = typer.Option(0.0, "--temperature", help="0: greedy"),
    seed: int = typer.Option(None, "--seed", help="sampling seed"),
    kv_cache_tokens: int = typer.Option(None, "--kv-cache-tokens", help="KV budget in tokens"),
    json_out: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
    ep: int = typer.Option(
        1, "--ep", help="split a MoE model's experts over W local ranks (NCCL on GPUs, else gloo)"
    ),
) -> None:
    """Generate from one prompt, streaming the text as it comes."""
    from engine import SamplingParams

    if ep != 1:
        options = dict(kernels=kernels, max_tokens=max_tokens, temperature=temperature, seed=seed)
        options |= dict(kv_cache_tokens=kv_cache_tokens, chat=chat, json=json_out)
        return _run_ep(prompt, ep, _model_dir(model), options)

    with _user_errors():
        params = SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
    llm = _llm(model, kernels, kv_cache_tokens=kv_cache_tokens)
    console, shown, start, last = out, "", time.perf_counter(), None
    with _user_errors():
        ids = llm.encode(prompt, chat=chat)
        if not json_out and not chat:
            console.print(f"[bold]{escape(prompt)}[/]", end="", soft_wrap=True)
        for last in llm.stream(ids, params):
            text = last.outputs[0].text
            if not json_out and not (text.endswith("\ufffd") and not last.finished):
                console.print(escape(text[len(shown) :]), end="", soft_wrap=True)
                shown = text
    seconds = time.perf_counter() - start
    done = last.outputs[0]
    if json_out:
        sys.stdout.write(
            json.dumps(
                {
                    "schema": 1,
                    "prompt": prompt,
                    "prompt_token_ids": last.prompt_token_ids,
                    "text": done.text,
                    "token_ids": done.token_ids,
                    "finish_reason": done.finish_reason,
                    "kernels": llm.kernels.bound,
                    "seconds": round(seconds, 3),
                }
            )
            + "\n"
        )
        return
    rate = len(done.token_ids) / seconds
    console.print(
        f"\n[dim]{len(done.token_ids)} tokens in {seconds:.2f} s ({rate:.1f} tok/s), "
        f"finish: {done.finish_reason}, {_describe(llm.kernels.bound)}[/]"
    )


def _run_ep(prompt: str, world: int, model: str, options: dict) -> None:
    """`dojo engine run --ep W`: the same generation through `python -m engine` on W ranks."""
    if world < 1:
        fail(f"--ep {world}: give the number of expert-parallel ranks, 1 or more")
    args = [prompt, f"--model={model}"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        args += [flag] if value is True else [] if value in (None, False) else [f"{flag}={value}"]
    from grader.runtime.launch import launch_ranks

    code, why = launch_ranks(args, world)
    if code:
        fail(why.replace("error: ", "", 1))


def _describe(bound: dict[str, str]) -> str:
    return "kernels: " + ", ".join(f"{op}={b}" for op, b in bound.items())


@engine_app.command("check")
def check(
    kernels: str = typer.Option("attempt", "--kernels", help=KERNELS_HELP),
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    max_tokens: int = typer.Option(16, "--max-tokens", help="greedy tokens per prompt"),
    json_out: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Your kernels inside a real model, one op at a time, against the references."""
    import dataclasses

    from grader.engine_tools.check import check_kernels, verdict

    with _user_errors():
        reports = check_kernels(_model_dir(model), kernels, max_tokens=max_tokens)
    overall = verdict(reports)
    if json_out:
        rows = [dataclasses.asdict(r) for r in reports]
        sys.stdout.write(json.dumps({"schema": 1, "verdict": overall, "ops": rows}) + "\n")
    else:
        _print_check(reports, overall)
    raise typer.Exit(0 if overall == "passed" else 1)


def _print_check(reports, overall: str) -> None:
    table = Table("op", "kernel", "verdict", "max abs err", "max rel err", "first divergence")
    table.columns[1].overflow = "fold"  # the whole kernel name (wrong:<bug>, a path), on 2 lines
    for r in reports:
        d = r.first_diff
        where = (
            f"pass {d['pass']} prompt {d['prompt']} token {d['token']}: {d['got']} vs {d['want']}"
            if d
            else "-"
        )
        err = lambda x: "-" if x is None else f"{x:.3g}"
        table.add_row(
            r.op, r.kernel, r.verdict.upper(), err(r.max_abs_err), err(r.max_rel_err), where
        )
    console = out
    console.print(table)
    for r in reports:
        if r.message:
            console.print(f"{r.op}: {escape(r.message)}", soft_wrap=True)
    console.print(f"verdict: [bold]{overall.upper()}[/]")


@engine_app.command("bench")
def bench(
    model: str = typer.Option(None, "--model", help=MODEL_HELP),
    kernels: str = typer.Option("auto", "--kernels", help=KERNELS_HELP),
    workload: str = typer.Option("throughput", "--workload", help=WORKLOAD_HELP),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bfloat16 on a GPU) | float32 | ..."),
    num_requests: int = typer.Option(256, "--num-requests"),
    min_len: int = typer.Option(100, "--min-len", help="input and output lengths: lowest"),
    max_len: int = typer.Option(1024, "--max-len", help="input and output lengths: highest"),
    seed: int = typer.Option(0, "--seed"),
    hf: bool = typer.Option(True, "--hf/--no-hf", help="also time HF transformers generate"),
    hf_batch_size: int = typer.Option(256, "--hf-batch-size"),
    bs1_tokens: int = typer.Option(256, "--bs1-tokens", help="tokens for the bs=1 decode"),
    conversations: int = typer.Option(32, "--conversations", help="chat: side by side"),
    turns: int = typer.Option(6, "--turns", help="chat: turns per conversation"),
    system_len: int = typer.Option(2048, "--system-len", help="chat: shared system prompt"),
    user_len: int = typer.Option(128, "--user-len", help="chat: user turns of [n/2, n] tokens"),
    answer_len: int = typer.Option(64, "--answer-len", help="chat: tokens of every answer"),
    json_out: bool = typer.Option(False, "--json", help="one JSON object on stdout"),
) -> None:
    """Throughput on the nano-vllm workload vs HF generate and bs=1 decode vs the roofline;
    or the multi-turn chat workload with the prefix cache on vs off; or bs=1 decode alone."""
    import torch

    from grader.cli.engine_bench_view import print_bench
    from grader.engine_tools.bench import Workload, run_bench
    from grader.engine_tools.workloads import ChatWorkload, bs1_bench, chat_bench
    from grader.runtime.timing import copy_bandwidth

    if workload not in ("throughput", "chat", "bs1"):
        fail(f"--workload {workload}: choose throughput, chat or bs1")
    bandwidth = copy_bandwidth if torch.cuda.is_available() else None
    with _user_errors():
        path, knobs = _model_dir(model), dict(kernels=kernels, dtype=dtype)
        if workload == "chat":
            work = ChatWorkload(conversations, turns, system_len, user_len, answer_len, seed)
            result = chat_bench(path, work, **knobs)
        elif workload == "bs1":
            result = bs1_bench(path, bs1_tokens, bandwidth, **knobs)
        else:
            work = Workload(num_requests, min_len, max_len, seed)
            result = run_bench(path, work, hf, hf_batch_size, bs1_tokens, bandwidth, **knobs)
    if json_out:
        sys.stdout.write(json.dumps({"schema": 1, **result}, indent=1) + "\n")
    else:
        print_bench(out, result)


@engine_app.command("serve")
def serve(
    model: str = typer.Argument(None, help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="the address to listen on"),
    port: int = typer.Option(8000, "--port", help="the port to listen on"),
    kernels: str = typer.Option("auto", "--kernels", help=KERNELS_HELP),
    kv_cache_tokens: int = typer.Option(None, "--kv-cache-tokens", help="KV budget in tokens"),
    max_model_len: int = typer.Option(None, "--max-model-len", help="the context cap"),
) -> None:
    """An OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions, streaming."""
    try:
        import uvicorn

        from engine.server import build_app
    except ImportError as e:
        fail(f"the server needs {e.name or 'FastAPI and uvicorn'}: pip install -e '.[serve]'")
    try:
        sock = socket.create_server((host, port))
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}): pass another --port or --host")
    llm = _llm(model, kernels, kv_cache_tokens=kv_cache_tokens, max_model_len=max_model_len)
    app = build_app(llm)
    out.print(
        f"serving {escape(app.state.name)} on http://{host}:{sock.getsockname()[1]}/v1 "
        f"({_describe(llm.kernels.bound)}); Ctrl+C stops",
        soft_wrap=True,
    )
    uvicorn.Server(uvicorn.Config(app, timeout_graceful_shutdown=2)).run(sockets=[sock])


@engine_app.command("kernels")
def kernels_cmd() -> None:
    """The kernel table: which problem each engine op runs, and what `auto` picks here."""
    import torch

    from engine.ops import kernel_table

    device = "cuda" if torch.cuda.is_available() else "cpu"
    table = Table("op", "problem", "where the engine uses it", f"auto on this {device.upper()}")
    for row in kernel_table(device):
        table.add_row(row["op"], row["problem"], row["where"], row["auto"])
    console = out
    console.print(table)
    if device == "cpu":
        console.print(
            "On a CPU the Triton interpreter is far too slow for a whole model, so "
            "`auto` runs the PyTorch references of Triton ops and the solutions of "
            "Python ops; pass --kernels solution or attempt to run yours anyway."
        )
