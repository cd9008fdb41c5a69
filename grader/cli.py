"""`dojo`: the command line. Thin typer commands over plain functions; every user error is
one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from grader import banks, profile, questions, report, scaffold, store
from grader import doctor as doctor_mod
from grader import plot as plot_mod
from grader.cli_engine import engine_app
from grader.cli_questions import questions_app, quiz
from grader.grade import Grade, grade, readiness, run_bench
from grader.impls import solution_backends, wrong_variants
from grader.registry import ROOT, UnknownProblem, all_problems, get_problem
from grader.sandbox import run_check
from grader.spec import SpecError

app = typer.Typer(
    help="Kernel Dojo: practise GPU-kernel and LLM-inference interview problems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

IMPL_HELP = "attempt | solution[:backend] | reference | wrong:<bug> | null:<kind> | PATH.py"
EXIT_NEEDS_GPU = 3  # the verdict could not be decided on this machine


def fail(message: str, code: int = 2) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def _root(
    ctx: typer.Context,
    root: Path = typer.Option(
        ROOT, hidden=True, help="the Kernel Dojo checkout to read problems from"
    ),
) -> None:
    ctx.obj = root


def _problem(ctx: typer.Context, slug: str):
    try:
        return get_problem(slug, ctx.obj)
    except (UnknownProblem, SpecError) as e:
        fail(str(e))


def _problems(ctx: typer.Context):
    try:
        return all_problems(ctx.obj)
    except SpecError as e:
        fail(str(e))


def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=1) + "\n")


def _exit_for(verdict: str) -> None:
    if verdict == "needs_gpu":
        raise typer.Exit(EXIT_NEEDS_GPU)
    if verdict != "passed":
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """The problems: difficulty, language, where each runs here, your last result."""
    problems = _problems(ctx)
    last = store.last_results(warn=lambda m: err.print(f"[yellow]warning:[/] {m}"))
    here = doctor_mod.capabilities()
    rows = [
        {
            "order": p.order,
            "problem": p.slug,
            "title": p.title,
            "difficulty": p.difficulty,
            "language": p.language,
            "runs_here": doctor_mod.runs_here(p, here),
            "last": _last(last.get(p.slug, {})),
        }
        for p in problems
    ]
    if as_json:
        return _emit_json({"schema": 1, "problems": rows})
    w = max(len(r["problem"]) for r in rows)
    last_w = max([len("your last result"), *(len(r["last"]) for r in rows)])
    head = (
        f" #  {'problem':<{w}}  level   lang    runs here          {'your last result':<{last_w}}"
    )
    out.print(Text(head + "  title", style="bold"), no_wrap=True, overflow="ellipsis")
    for r in rows:
        line = (
            f"{r['order']:>2}  {r['problem']:<{w}}  {r['difficulty']:<6}  {r['language']:<6}  "
            f"{r['runs_here']:<17}  {r['last']:<{last_w}}  {r['title']}"
        )
        out.print(Text(line), no_wrap=True, overflow="ellipsis")
    out.print(
        Text(
            "dojo show <problem> prints the statement; dojo check <problem> grades your attempt",
            style="dim",
        )
    )


def _last(entries: dict[str, Any]) -> str:
    attempt = entries.get("attempt")
    if not attempt:
        return ""
    score = "" if attempt.get("score") is None else f" {attempt['score']}/100"
    return f"{attempt['verdict']}{score} ({attempt['when']})"


@app.command()
def show(ctx: typer.Context, slug: str):
    """The statement, signature, perf bars, hints available and linked questions."""
    p = _problem(ctx, slug)
    readme = p.path / "README.md"
    out.print(Markdown(readme.read_text()) if readme.exists() else f"# {p.title}")
    out.rule()
    out.print(Text.assemble(("signature ", "bold"), p.signature))
    out.print(
        f"[bold]entry[/] {', '.join(p.entry)}"
        + (f" (optional: {', '.join(p.optional)})" if p.optional else "")
    )
    for device, perf in p.perf.items():
        bars = ", ".join(f"{k} {v:g}" for k, v in perf.bars.items())
        out.print(f"[bold]perf ({device})[/] {perf.metric} vs {perf.baseline}: {bars}")
    for line in banks.notes(p):  # the smem_transpose layout report; nothing elsewhere
        out.print(line)
    impls = [
        "attempt",
        "reference",
        *(f"solution:{b}" for b in solution_backends(p)),
        *(f"wrong:{w}" for w in wrong_variants(p)),
        "null:zeros|copy|fp16",
    ]
    out.print(Text.assemble(("implementations ", "bold"), " ".join(impls)))
    out.print(
        f"[bold]hints[/] {len(p.hints)} (`dojo hint {slug}`) · "
        f"[bold]mock interview[/] {p.mock_minutes} min"
    )
    for q in questions.describe_links(p, p.path.parent.parent):
        out.print(f"[bold]question[/] {q}")


@app.command()
def check(
    ctx: typer.Context,
    slug: str,
    impl: str = typer.Option("attempt", help=IMPL_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    timeout: float = typer.Option(None, help="seconds (default from problem.toml)"),
    fail_fast: bool = typer.Option(
        False, "--fail-fast", "-x", help="stop at the first failing check"
    ),
    thorough: bool = typer.Option(False, help="hypothesis `dev` profile: 100 examples"),
):
    """Correctness of an implementation, in a sandboxed process."""
    p = _problem(ctx, slug)
    if as_json:
        r = run_check(p, impl, timeout=timeout, fail_fast=fail_fast, thorough=thorough)
        _emit_json(r.to_json())
    else:
        with err.status(f"checking {slug} ({impl})…"):
            r = run_check(p, impl, timeout=timeout, fail_fast=fail_fast, thorough=thorough)
        report.print_check(out, r)
    if r.impl == "attempt":
        store.record_result(slug, "attempt", {"verdict": r.verdict, "score": None})
    _exit_for(r.verdict)


@app.command()
def bench(
    ctx: typer.Context,
    slug: str,
    impl: str = typer.Option("attempt", help=IMPL_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ncu: bool = typer.Option(False, "--ncu", help="also read hardware counters with ncu"),
    plot: Path = typer.Option(None, help="write fraction vs bars as an SVG chart"),
):
    """Performance against the bars, with the baseline measured in the same run."""
    p = _problem(ctx, slug)
    with err.status(f"benchmarking {slug} ({impl})…"):
        b = run_bench(p, impl)
        if ncu:
            b["ncu"] = profile.ncu_report(p, impl)
    if plot is not None and b.get("status") == "measured":
        plot_mod.write_svg(b, plot)
    if as_json:
        _emit_json({"schema": 1, **b})
    else:
        report.print_bench(out, b)
        if ncu:
            out.print(f"ncu: {b['ncu']}")
    _exit_for("passed" if b.get("status") == "measured" else b.get("status", "error"))


@app.command("grade")
def grade_cmd(
    ctx: typer.Context,
    slug: str = typer.Argument(None),
    all_: bool = typer.Option(False, "--all"),
    impl: str = typer.Option("attempt", help=IMPL_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    fail_fast: bool = typer.Option(False, "--fail-fast", "-x"),
    save: Path = typer.Option(None, help="also write the JSON to this file (results/*.json)"),
):
    """Check + bench → score (0 unless correct; 60 + up to 40 by tier) and readiness."""
    if bool(slug) == all_:
        fail("give one problem slug or --all")
    problems = _problems(ctx) if all_ else [_problem(ctx, slug)]
    grades: list[Grade] = []
    for p in problems:
        with err.status(f"grading {p.slug} ({impl})…"):
            grades.append(grade(p, impl, fail_fast=fail_fast))
        if impl == "attempt":
            g = grades[-1]
            store.record_result(p.slug, impl, {"verdict": g.check.verdict, "score": g.score})
    ready = readiness(grades)
    data = {"schema": 1, "results": [g.to_json() for g in grades], "readiness": ready}
    if save is not None:
        save.write_text(json.dumps({**data, "machine": doctor_mod.facts(measure=False)}, indent=1))
    if as_json:
        _emit_json(data)
    else:
        report.print_scoreboard(out, grades, ready)
    bad = [g for g in grades if g.check.verdict not in ("passed", "needs_gpu")]
    if bad:
        raise typer.Exit(1)
    if not all_ and grades[0].check.verdict == "needs_gpu":
        raise typer.Exit(EXIT_NEEDS_GPU)


@app.command()
def hint(
    ctx: typer.Context, slug: str, reset: bool = typer.Option(False, help="hide every hint again")
):
    """Reveal the next hint of the ladder (the ones already revealed are shown again)."""
    p = _problem(ctx, slug)
    if reset:
        store.set_hints_revealed(slug, 0)
        return out.print(f"hints for {slug} hidden again")
    shown = min(store.hints_revealed(slug) + 1, len(p.hints))
    store.set_hints_revealed(slug, shown)
    for i, text in enumerate(p.hints[:shown], 1):
        out.print(f"[bold]{i}/{len(p.hints)}[/] {text}", style=None if i == shown else "dim")
    if shown == len(p.hints):
        out.print("[dim]that was the last hint; solutions/" + slug + "/ has a worked solution[/]")


@app.command()
def doctor(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """What this machine can run: torch, Triton, CuPy, nvcc, ncu, the GPU and its measured
    copy bandwidth and cuBLAS rate."""
    facts = doctor_mod.facts(measure=True)
    if as_json:
        return _emit_json({"schema": 1, **facts})
    doctor_mod.print_facts(out, facts, _problems(ctx))


@app.command()
def new(
    ctx: typer.Context,
    slug: str,
    lang: str = typer.Option(..., help="triton | cuda | torch | python"),
):
    """Scaffold a new problem in the right shape (a working example to edit)."""
    root = ctx.obj
    try:
        written = scaffold.create(root, slug, lang)
    except ValueError as e:
        fail(str(e))
    for path in written:
        out.print(f"created {path.relative_to(root)}")
    out.print(f"next: pytest problems/{slug}   then edit the files (CONTRIBUTING.md)")


app.add_typer(questions_app, name="questions", help="Browse and search the question bank.")
app.command("quiz")(quiz)
app.add_typer(engine_app, name="engine", help="Run, check and benchmark the inference engine.")


def main() -> None:
    app()
