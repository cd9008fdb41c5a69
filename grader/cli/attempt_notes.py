"""What a problem's hooks say about the attempt for `dojo show` (smem_transpose: its layout
report), asked of a worker process: the CLI never imports an attempt."""

from __future__ import annotations

from grader.harness.checked import ImplError, NeedsGpu, open_impl, remote
from grader.harness.hooks import Hooks, hooks_for
from grader.problem.impls import resolve
from grader.problem.spec import Problem
from grader.runtime.errors import ImplLoadError, NotAttempted


def attempt_notes(p: Problem) -> list[str]:
    """At most 20 lines of at most 200 characters; none where the hooks have nothing to say or
    the attempt is not written yet, one line saying why where it does not load or answer."""
    if type(hooks_for(p)).notes is Hooks.notes:
        return []
    root = p.path.parent.parent
    try:
        impl = open_impl(p, resolve(p, "attempt", root), root)
    except (ImplLoadError, NotAttempted, NeedsGpu) as e:
        return [f"your attempt does not load ({e})"] if isinstance(e, ImplLoadError) else []
    try:
        lines = remote(impl.client, ("call", ("notes",), (), {}), "notes")
    except (ImplError, AssertionError, NotAttempted) as e:
        return [f"your attempt's layout could not be read ({e})"]
    finally:
        impl.client.close()
    ok = isinstance(lines, list) and all(isinstance(x, str) for x in lines)
    return [f"your attempt: {line[:200]}" for line in lines[:20]] if ok else []
