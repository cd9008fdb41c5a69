"""`dojo calibrate`, and `dojo check` under per-check time budgets: the live line says which
budgets apply; a passing check of the shipped solution refreshes this machine's calibration."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer

from grader.cli.common import emit_json, err, fail, out
from grader.cli.progress import check_progress
from grader.problem.impls import resolve
from grader.problem.registry import UnknownProblem, all_problems, get_problem
from grader.problem.spec import Problem, SpecError
from grader.runtime.errors import ImplLoadError
from grader.sandbox import calibration
from grader.sandbox.budgets import THOROUGH, Policy, budgets_for, plan
from grader.sandbox.check import run_check
from grader.sandbox.verdict import CheckResult


def budgeted_check(
    p: Problem, impl: str, *, timeout: float | None, fail_fast: bool, thorough: bool, live: bool
) -> CheckResult:
    """run_check under this machine's budgets (none when --timeout is given), with the live line
    when `live`; a passing run of the shipped solution refreshes the calibration."""
    policy = Policy(slow=Policy().slow * THOROUGH) if thorough else Policy()
    budgets = None if timeout else plan(p, impl, policy=policy)
    watch = None if thorough else _stopwatch(p, impl)  # calibrations time the ci profile
    label = f"checking {p.slug} ({impl}) · " + (
        budgets.label if budgets is not None else f"--timeout {timeout:g} s for the whole run"
    )
    live_line = check_progress(label, budgets and budgets.limit) if live else nullcontext()
    with live_line as show:
        r = run_check(
            p,
            impl,
            timeout=timeout,
            fail_fast=fail_fast,
            thorough=thorough,
            budgets=budgets,
            on_event=calibration.chain(watch, show),
        )
    measured = calibration.from_run(r, watch) if watch is not None else None
    if measured is not None:
        calibration.save(p, p.path.parent.parent, measured)
    return r


def _stopwatch(p: Problem, impl: str) -> calibration.Stopwatch | None:
    """A stopwatch when `impl` is the solution `dojo calibrate` would time first."""
    try:
        ref, shipped = resolve(p, impl), resolve(p, "solution")
    except ImplLoadError:
        return None
    return calibration.Stopwatch(ref.cli_arg) if ref.spec == shipped.spec else None


def calibrate_cmd(
    ctx: typer.Context,
    slug: str = typer.Argument(None),
    all_: bool = typer.Option(False, "--all", help="every problem"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Time the shipped solution's checks on this machine: `dojo check` budgets follow from it."""
    if bool(slug) == all_:
        fail("give one problem slug or --all")
    try:
        problems = all_problems(ctx.obj) if all_ else [get_problem(slug, ctx.obj)]
    except (UnknownProblem, SpecError) as e:
        fail(str(e))
    rows = [_calibrate_one(p, ctx.obj, live=not as_json) for p in problems]
    if as_json:
        return emit_json({"schema": 1, "calibrations": rows})
    for row in rows:
        out.print(_row_line(row), soft_wrap=True)
    if any(row["impl"] is None for row in rows):
        err.print("problems not calibrated keep fixed budgets: a quarter of their check timeout")


def _calibrate_one(p: Problem, root: Path, live: bool) -> dict:
    if live:
        with check_progress(f"calibrating {p.slug}") as on_event:
            measured = calibration.calibrate(p, root, on_event)
    else:
        measured = calibration.calibrate(p, root)
    if isinstance(measured, str):
        return {"problem": p.slug, "impl": None, "message": measured}
    calibration.save(p, root, measured)
    b = budgets_for(p, measured.impl, root)
    limits = list(b.limits.values())
    return {
        "problem": p.slug,
        "impl": measured.impl,
        "seconds": round(measured.wall, 2),
        "checks": len(measured.tests),
        "budget_per_check": [round(min(limits)), round(max(limits))],
        "budget_run": round(b.timeout),
    }


def _row_line(row: dict) -> str:
    if row["impl"] is None:
        return f"{row['problem']} · not calibrated: {row['message']}"
    low, high = row["budget_per_check"]
    per = f"{low} s" if low == high else f"{low}-{high} s"
    return (
        f"{row['problem']} · {row['impl']} · {row['seconds']:g} s for {row['checks']} "
        f"check{'s' * (row['checks'] != 1)} · "
        f"budgets {per} a check, {row['budget_run']} s the run"
    )
