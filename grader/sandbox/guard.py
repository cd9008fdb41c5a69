"""What a sandboxed run must leave as it found: the grader's own files (a conftest.py dropped into
the checkout, an edited test or reference, would flip every later verdict) and the user's
progress store (only the grader writes it). Changes to the first void the run; changes to the
second are undone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TRUSTED = ("grader", "reference", "solutions", "problems", "engine", "tests")
SKIP_DIRS = {"__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache"}
EDITABLE = ("attempt.py", "attempt.cu")  # the candidate's own files may change between runs


@dataclass(slots=True)
class Guard:
    tampered: list[str] = field(default_factory=list)  # trusted files changed, added or removed
    restored: list[str] = field(default_factory=list)  # store files put back as they were


@contextlib.contextmanager
def guarded(root: Path, store: Path | None) -> Iterator[Guard]:
    """Fingerprint the checkout's trusted files and snapshot the store; after the block, list
    what changed in the first and restore the second."""
    guard, before, saved = Guard(), fingerprint(root), _snapshot(store)
    try:
        yield guard
    finally:
        after = fingerprint(root)
        guard.tampered = sorted(
            p for p in before.keys() | after.keys() if before.get(p) != after.get(p)
        )
        guard.restored = _restore(store, saved)


def fingerprint(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every trusted file, plus any conftest.py or sitecustomize.py at the
    root, by path relative to root."""
    prints: dict[str, tuple[int, int]] = {}
    tops = [root / d for d in TRUSTED] + [root / n for n in ("conftest.py", "sitecustomize.py")]
    for top in tops:
        for path in _files(top):
            if path.name in EDITABLE or path.suffix == ".pyc":
                continue
            with contextlib.suppress(OSError):
                st = path.stat()
                prints[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return prints


def _files(top: Path) -> Iterator[Path]:
    if top.is_file():
        yield top
        return
    if not top.is_dir():
        return
    for path in top.iterdir():
        if path.is_dir() and not path.is_symlink():
            if path.name not in SKIP_DIRS:
                yield from _files(path)
        else:
            yield path


def _snapshot(store: Path | None) -> dict[Path, bytes | None]:
    if store is None or not store.is_dir():
        return {}
    return {p: p.read_bytes() for p in store.iterdir() if p.is_file()}


def _restore(store: Path | None, saved: dict[Path, bytes | None]) -> list[str]:
    if store is None or not store.is_dir():
        return []
    restored = []
    for path in [p for p in store.iterdir() if p.is_file()] + list(saved):
        want = saved.get(path)
        now = path.read_bytes() if path.is_file() else None
        if now == want:
            continue
        if want is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(want)
        restored.append(path.name)
    return sorted(set(restored))
