"""The user's own state (last results, revealed hints, quiz progress) as JSON files in the XDG
data directory, written atomically; a corrupted file is moved aside, never fatal."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def data_dir(override: Path | None = None) -> Path:
    """$XDG_DATA_HOME/kernel-dojo, default ~/.local/share/kernel-dojo (created on demand)."""
    if override is not None:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "kernel-dojo"


def load_json(path: Path, default: Any, warn: Any = None) -> Any:
    """The file's content, or `default` when it is missing. A file that does not parse is
    renamed to <name>.corrupt-<time> and `warn` (if given) is called with one line saying so."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.replace(aside)
        except OSError:
            aside = path
        if warn is not None:
            warn(
                f"{path} was unreadable ({type(e).__name__}); kept it as {aside.name} and "
                "started afresh"
            )
        return default


def save_json(path: Path, data: Any) -> None:
    """Write via a temp file in the same directory and os.replace: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_result(slug: str, impl: str, result: dict[str, Any], base: Path | None = None) -> None:
    path = data_dir(base) / "results.json"
    results = load_json(path, {})
    results.setdefault(slug, {})[impl] = {**result, "when": time.strftime("%Y-%m-%d %H:%M")}
    save_json(path, results)


def last_results(base: Path | None = None, warn: Any = None) -> dict[str, Any]:
    return load_json(data_dir(base) / "results.json", {}, warn)


def hints_revealed(slug: str, base: Path | None = None) -> int:
    return int(load_json(data_dir(base) / "hints.json", {}).get(slug, 0))


def set_hints_revealed(slug: str, count: int, base: Path | None = None) -> None:
    path = data_dir(base) / "hints.json"
    hints = load_json(path, {})
    hints[slug] = count
    save_json(path, hints)
