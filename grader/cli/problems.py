"""`dojo list|show|check|bench|grade|hint|doctor|new`: the problem commands, thin typer
commands over plain functions; every user error is one line on stderr, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from grader import store
from grader.bank import questions
from grader.cli import peers_view, problem_view, report
from grader.cli.attempt_notes import attempt_notes
from grader.cli.calibrate import budgeted_check
from grader.cli.common import EXIT_FAILED, EXIT_NEEDS_GPU, emit_json, err, fail, out, warn
from grader.perf import doctor as doctor_mod
from grader.perf import plot as plot_mod
from grader.perf import profile
from grader.perf.grade import Grade, grade, readiness, run_bench, untouched_stub
from grader.problem import scaffold
from grader.problem.complete import missing_parts
from grader.problem.impls import resolve, solution_backends, wrong_variants
from grader.problem.registry import UnknownProblem, all_problems, get_problem
from grader.problem.spec import SpecError
from grader.runtime.errors import ImplLoadError
from grader.sandbox.verdict import VERDICTS

IMPL_HELP = (
    "attempt | solution[:backend] | reference | wrong:<bug> | null:<kind> | peer:<name> | PATH.py"
)


def _problem(ctx: typer.Context, slug: str):
    try:
        return get_problem(slug, ctx.obj)
    except (UnknownProblem, SpecError) as e:
        fail(str(e))


def _problems(ctx: typer.Context):
    """Every problem that loads; each malformed problem.toml is one warning line, not a stop."""
    problems = all_problems(ctx.obj, skip=warn)
    if not problems:
        fail(f"no problem loads under {ctx.obj / 'problems'}")
    return problems


def _usable_impl(p, impl: str) -> None:
    """A bad --impl is a usage error (exit 2, one line), not a verdict about the code."""
    try:
        resolve(p, impl, p.path.parent.parent)
    except ImplLoadError as e:
        fail(str(e))


def _exit_for(verdict: str) -> None:
    code = VERDICTS[verdict].exit_code if verdict in VERDICTS else EXIT_FAILED
    if code:
        raise typer.Exit(code)


def list_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """The problems: difficulty, language, where each runs here, your last result."""
    problems = _problems(ctx)
    last = store.last_results(warn=warn)
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
        return emit_json({"schema": 1, "problems": rows})
    report.print_list(out, rows)


def _last(entries: dict[str, Any]) -> str:
    attempt = entries.get("attempt")
    if not attempt:
        return ""
    score = "" if attempt.get("score") is None else f" {attempt['score']}/100"
    return f"{attempt['verdict']}{score} ({attempt['when']})"


def show(ctx: typer.Context, slug: str):
    """The statement, signature, perf bars, hints available and linked questions."""
    p = _problem(ctx, slug)
    problem_view.print_statement(out, p)
    for line in attempt_notes(p):  # smem_transpose: the attempt's layout report
        out.print(line)
    impls = [
        "attempt",
        "reference",
        *(f"solution:{b}" for b in solution_backends(p)),
        *(f"wrong:{w}" for w in wrong_variants(p)),
        "null:zeros|copy|fp16",
        *(f"peer:{name}" for name in p.peers),
    ]
    problem_view.print_menu(out, p, slug, impls, questions.describe_links(p, p.path.parent.parent))


def check(
    ctx: typer.Context,
    slug: str,
    impl: str = typer.Option("attempt", help=IMPL_HELP),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    timeout: float = typer.Option(
        None, help="seconds for the whole run, no per-check budgets (default: dojo calibrate)"
    ),
    fail_fast: bool = typer.Option(
        False, "--fail-fast", "-x", help="stop at the first failing check"
    ),
    thorough: bool = typer.Option(False, help="hypothesis `dev` profile: 100 examples"),
):
    """Correctness of an implementation, in a sandboxed process."""
    p = _problem(ctx, slug)
    _usable_impl(p, impl)
    r = untouched_stub(p, impl) or budgeted_check(
        p, impl, timeout=timeout, fail_fast=fail_fast, thorough=thorough, live=not as_json
    )
    if as_json:
        emit_json(r.to_json())
    else:
        report.print_check(out, r, hints_left=len(p.hints) - store.hints_revealed(slug))
    if r.impl == "attempt":
        store.record_result(slug, "attempt", {"verdict": r.verdict, "score": None})
    _exit_for(r.verdict)


def bench(
    ctx: typer.Context,
    slug: str = typer.Argument(None),
    all_: bool = typer.Option(False, "--all", help="every problem, one after another"),
    impl: str = typer.Option("attempt", help=IMPL_HELP),
    peers: bool = typer.Option(
        False, "--peers", help="also check and time what a user would call instead, side by side"
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ncu: bool = typer.Option(False, "--ncu", help="also read hardware counters with ncu"),
    plot: Path = typer.Option(None, help="write fraction vs bars as an SVG chart"),
):
    """Performance against the bars, with the baseline measured in the same run."""
    if bool(slug) == all_:
        fail("give one problem slug or --all")
    if all_ and (ncu or plot is not None):
        fail("--ncu and --plot take one problem, not --all")
    problems = _problems(ctx) if all_ else [_problem(ctx, slug)]
    if not all_:
        _usable_impl(problems[0], impl)
    results = [_bench_one(p, impl, peers, ncu, plot) for p in problems]
    if as_json:
        emit_json({"schema": 1, "results": results} if all_ else {"schema": 1, **results[0]})
    for b in [] if as_json else results:
        report.print_bench(out, b)
        peers_view.print_peers(out, b)
        if ncu:
            out.print(f"ncu: {b['ncu']}")
    statuses = {b.get("status", "error") for b in results}
    if all_:  # a problem this machine cannot measure is not a failure of the run
        raise typer.Exit(1 if statuses - {"measured", "needs_gpu"} else 0)
    _exit_for("passed" if statuses == {"measured"} else statuses.pop())


def _bench_one(p, impl: str, peers: bool, ncu: bool, plot: Path | None) -> dict[str, Any]:
    with err.status(f"benchmarking {p.slug} ({impl}{' and its peers' if peers else ''})…"):
        b = run_bench(p, impl, peers=peers)
        if ncu:
            b["ncu"] = profile.ncu_report(p, impl)
    if plot is not None and b.get("status") == "measured":
        plot_mod.write_svg(b, plot)
    return b


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
    if not all_:  # over --all, an impl one problem lacks is that problem's error
        _usable_impl(problems[0], impl)
    grades = _graded(problems, impl, fail_fast, save)
    bank = questions.load_bank(ctx.obj)
    incomplete = [p.slug for p in problems if missing_parts(p, ctx.obj, bank)]
    ready = readiness([g for g in grades if g.check.problem not in incomplete])
    data = {"schema": 1, "results": [g.to_json() for g in grades], "readiness": ready}
    if incomplete:  # `dojo new` problems still being written: graded, not counted
        data["incomplete"] = incomplete
    if save is not None:
        _save(save, data)
    if as_json:
        emit_json(data)
    else:
        report.print_scoreboard(out, grades, ready)
        if incomplete:
            out.print(f"not in readiness, incomplete (dojo new): {', '.join(incomplete)}")
    bad = [g for g in grades if g.check.verdict not in ("passed", "needs_gpu")]
    if bad:
        raise typer.Exit(1)
    if not all_ and grades[0].check.verdict == "needs_gpu":
        raise typer.Exit(EXIT_NEEDS_GPU)


def _graded(problems: list, impl: str, fail_fast: bool, save: Path | None) -> list[Grade]:
    """Each problem graded in turn; with --save, the file is rewritten after each one, so a
    run cut short (a timeout, Ctrl-C) keeps what it graded, marked partial."""
    grades: list[Grade] = []
    for i, p in enumerate(problems, 1):
        with err.status(f"grading {p.slug} ({impl})…"):
            grades.append(grade(p, impl, fail_fast=fail_fast))
        if impl == "attempt":
            g = grades[-1]
            store.record_result(p.slug, impl, {"verdict": g.check.verdict, "score": g.score})
        if save is not None and i < len(problems):
            partial = f"{i} of {len(problems)} problems graded: the run stopped before the rest"
            _save(save, {"schema": 1, "results": [g.to_json() for g in grades], "partial": partial})
    return grades


def _save(path: Path, data: dict) -> None:
    path.write_text(json.dumps({**data, "machine": doctor_mod.facts(measure=False)}, indent=1))


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


def doctor(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """What this machine can run: torch, Triton, CuPy, nvcc, ncu, the GPU and its measured
    copy bandwidth and cuBLAS rate."""
    facts = doctor_mod.facts(measure=True)
    if as_json:
        return emit_json({"schema": 1, **facts})
    doctor_mod.print_facts(out, facts, _problems(ctx))


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
        out.print(f"created {path.resolve()}", soft_wrap=True)
    todo = missing_parts(get_problem(slug, root), root)
    out.print(f"next: pytest {(root / 'problems' / slug).resolve()}", soft_wrap=True)
    out.print(f"still needed before it is complete and counts in readiness ({len(todo)}):")
    for item in todo:
        out.print(f"  - {item}", soft_wrap=True)
