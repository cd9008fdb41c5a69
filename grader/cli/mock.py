"""`dojo mock ...`: timed mock interviews, thin typer commands over grader.mock (mock_view.py
prints, mock_answer.py reads a typed answer, mock_lookup.py finds an item's problem or question);
every action is saved before the command returns, and every user error is one line (exit 2)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import typer
from rich.live import Live
from rich.text import Text

from grader.bank import quiz
from grader.cli import mock_answer, mock_lookup, mock_view
from grader.cli.common import emit_json, fail, out, warn
from grader.mock import assist, deck, history, report, snapshot, status
from grader.mock import plan as planner
from grader.mock import session as ms
from grader.perf.grade import grade
from grader.problem.registry import all_problems
from grader.problem.spec import Problem, SpecError
from grader.runtime.device import cuda_count

mock_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Timed mock interviews: `dojo mock start`, then `dojo mock` shows where you are.",
)
now = time.time  # the one clock; tests replace it
sleep = time.sleep


def _load_current(required: bool = True) -> ms.Session | None:
    try:
        s = ms.current(None, warn)
    except ms.MockError as e:
        fail(str(e))
    if s is None:
        if required:
            fail("no mock interview is running: start one with `dojo mock start`")
        return None
    seen = ms.observe(s, now())
    if seen != s:
        ms.save(seen)
        if not seen.running:
            _finish(seen)
            fail("time is up in this --strict session: it has ended (dojo mock report)")
    return seen


def _finish(s: ms.Session) -> ms.Session:
    """End the session (if not yet), hand missed questions to the quiz deck, save."""
    if s.running:
        s = ms.end(s, now())
    ids = deck.hand_off(deck.missed(s), quiz.progress_path(), date.today(), warn)
    s = replace(s, handed_off=tuple(ids))
    ms.save(s)
    return s


def _act(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except ms.MockError as e:
        fail(str(e))


@mock_app.callback()
def where(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", help="a live countdown until Ctrl-C"),
):
    """Where you are: the current item and the time left for it and for the session."""
    if ctx.invoked_subcommand is not None:
        return
    s = _load_current(required=False)
    if s is None:
        out.print("no mock interview is running: `dojo mock start --minutes 45` starts one")
        return
    if not watch:
        return out.print(status.text(s, now()))
    try:
        with Live(status.text(s, now()), console=out, auto_refresh=False) as live:
            while s is not None and s.running:
                sleep(1)
                s = _load_current(required=False)
                if s is not None:
                    live.update(status.text(s, now()), refresh=True)
    except KeyboardInterrupt:
        pass


@mock_app.command()
def start(
    ctx: typer.Context,
    minutes: int = typer.Option(45, help="the session's length"),
    problems: str = typer.Option("", help="comma-separated problem slugs"),
    topic: str = typer.Option(None, help="a question topic, problem track or tag"),
    difficulty: str = typer.Option(None, help="easy | medium | hard"),
    questions: int = typer.Option(None, help="how many conceptual questions"),
    seed: int = typer.Option(None, help="the plan's seed (the same seed, the same plan)"),
    strict: bool = typer.Option(False, help="no pause, no hints, ends at time-out"),
    gpu_only: bool = typer.Option(False, "--gpu-only", help="only problems graded on a GPU"),
    cpu_only: bool = typer.Option(False, "--cpu-only", help="only problems graded on a CPU"),
    yes: bool = typer.Option(False, "--yes", "-y", help="start the clock without asking"),
):
    """Plan a session, show the plan and its budgets, then start the clock."""
    if gpu_only and cpu_only:
        fail("--gpu-only and --cpu-only exclude each other")
    running = _load_current(required=False)
    if running is not None:
        fail(f"session {running.id} is still running: `dojo mock end` it first")
    seed = int(now()) % 100_000 if seed is None else seed
    try:
        opts = planner.Options(
            minutes,
            seed,
            tuple(p for p in problems.split(",") if p),
            topic,
            difficulty,
            questions,
            "gpu" if gpu_only else "cpu" if cpu_only else "any",
        )
        items = _plan(ctx.obj, opts)
    except (planner.PlanError, SpecError) as e:
        fail(str(e))
    mock_view.print_plan(out, items, minutes, seed, strict)
    if not yes and not typer.confirm("start the clock?", default=True):
        return out.print("not started.")
    t = now()
    s = ms.start(items, ms.new_id(t), t, seed=seed, strict=strict, minutes_asked=minutes)
    ms.save(s)
    out.print(f"the clock is running: session {s.id}. `dojo mock` shows where you are.")
    out.print(status.text(s, t))


def _plan(root: Path, opts: planner.Options) -> tuple[planner.Item, ...]:
    """The session's items, weighted towards past weak areas and the quiz cards now due."""
    probs, bank = all_problems(root), mock_lookup.questions(root)
    hist = history.rows(ms.all_sessions(None, warn))
    due = deck.due_ids(quiz.progress_path(), date.today(), warn)
    return planner.make_plan(probs, bank, opts, cuda_count(), history.weakness(hist), due)


@mock_app.command()
def submit(
    ctx: typer.Context,
    file: Path = typer.Argument(None, help="the .py to grade (default: the problem's attempt.py)"),
):
    """Grade the current coding item now, on a snapshot of its files kept in the session."""
    s = _load_current()
    st = _act(ms.expect, s, now(), "coding")
    problem = mock_lookup.problem(ctx.obj, st.item.ref)
    source = file or problem.path / "attempt.py"
    if not source.is_file():
        fail(f"{source} does not exist: submit the attempt's .py")
    rel = f"submits/{s.current + 1}-{len(st.submits) + 1}"
    folder = ms.session_path(s.id).parent / rel
    copied, missing = snapshot.take(source, folder, problem.language)
    out.print(f"graded copy: {folder} (submit {len(st.submits) + 1}); grading...")
    result = _grade_copy(ctx, problem, source, copied, missing)
    s = _act(ms.record_submit, _load_current(), now(), snapshot=rel, **result)
    ms.save(s)
    mock_view.print_submit(out, result)


def _grade_copy(
    ctx: typer.Context, problem: Problem, source: Path, copied: Path, missing: list[str]
) -> dict:
    """The verdict of the snapshot; an error verdict, ungraded, when a file it loads is missing."""
    if missing:
        names = ", ".join(missing)
        return dict(
            verdict="error",
            score=0,
            tier=None,
            measured=False,
            message=f"{source.name} loads {names}, which is not next to it: put it there",
        )
    g = grade(problem, str(copied), root=ctx.obj)
    return dict(
        verdict=g.check.verdict,
        score=g.score,
        tier=g.tier,
        measured=g.perf.get("status") == "measured",
        message=g.check.message.replace(str(copied), str(source)),  # the file they edit
    )


@mock_app.command()
def hint(ctx: typer.Context):
    """The next hint of the current item's ladder (each costs points; the report shows it)."""
    s = _load_current()
    st = s.items[s.current]
    if st.item.kind == "coding":
        ladder = tuple(mock_lookup.problem(ctx.obj, st.item.ref).hints)
    else:
        ladder = tuple(getattr(mock_lookup.question(ctx.obj, st.item.ref), "hints", ()) or ())
    s, k = _act(ms.hint, s, now(), len(ladder))
    ms.save(s)
    out.print(f"hint {k + 1}/{len(ladder)} (costs {report.HINT_COST} points): {ladder[k]}")


@mock_app.command()
def answer(
    ctx: typer.Context,
    hits: str = typer.Option(None, help="key points covered, e.g. 1,3 or all or none"),
    editor: bool = typer.Option(False, "--editor", help="write the answer in $EDITOR"),
):
    """Answer the current question, then mark which key points the answer covered."""
    s = _load_current()
    st = _act(ms.expect, s, now(), "concept")
    q = mock_lookup.question(ctx.obj, st.item.ref)
    out.print(Text(getattr(q, "prompt", None) or q.title, style="bold"))
    text = mock_answer.read_answer(editor)
    points = tuple(q.key_points)
    checks = assist.precheck(text, points)
    mock_view.print_key_points(out, points, checks)
    marks = mock_answer.marks(hits, len(points))
    s = _act(ms.record_answer, _load_current(), now(), text, points, marks, checks)
    ms.save(s)
    mock_view.print_recorded(out, q, marks, len(points))


@mock_app.command("next")
def next_cmd():
    """Leave the current item (its time is counted) and start the next."""
    s = _act(ms.advance, _load_current(), now())
    ms.save(s)
    out.print(status.text(s, now()))


@mock_app.command()
def pause():
    """Stop the clock (not in --strict sessions)."""
    ms.save(_act(ms.pause, _load_current(), now()))
    out.print("paused: `dojo mock resume` starts the clock again")


@mock_app.command()
def resume():
    """Start the clock again after a pause."""
    s = _act(ms.resume, _load_current(), now())
    ms.save(s)
    out.print(status.text(s, now()))


@mock_app.command()
def end():
    """Finish the session: missed questions go to the quiz deck, then the report."""
    s = _finish(_load_current())
    mock_view.print_report(out, report.build(s, now()))


@mock_app.command("report")
def report_cmd(
    session_id: str = typer.Argument(None, metavar="[SESSION]", help="default: the latest"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    md: Path = typer.Option(None, "--md", help="also write the report as Markdown here"),
):
    """A session's report: time per item, verdicts, key points, scores, what to study."""
    sessions = _act(ms.all_sessions, None, warn)
    if not sessions:
        fail("no mock sessions yet: `dojo mock start`")
    chosen = [s for s in sessions if s.id == session_id] if session_id else sessions[-1:]
    if not chosen:
        fail(f"no session '{session_id}': `dojo mock history` lists them")
    s = chosen[0]
    rep = report.build(s, s.ended_at or now())
    if md is not None:
        md.write_text(report.markdown(rep))
    if as_json:
        return emit_json(rep)
    mock_view.print_report(out, rep)


@mock_app.command("history")
def history_cmd(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    svg: Path = typer.Option(None, "--svg", help="write the trend chart as SVG here"),
):
    """Past sessions: scores, the trend, and the weakest areas."""
    rows = history.rows(_act(ms.all_sessions, None, warn))
    weak = history.weakest(rows)
    if as_json:
        return emit_json({"schema": report.SCHEMA, "sessions": rows, "weakest": weak})
    if not rows:
        return out.print("no finished mock sessions yet: `dojo mock start`")
    mock_view.print_history(out, rows, weak)
    if svg is not None:
        history.write_svg(svg, [r["overall"] for r in rows])
        out.print(f"wrote {svg}")
