"""[rules] of problem.toml: the calls, imports and dtype conversions an attempt may not use."""

from __future__ import annotations

import re
from dataclasses import dataclass

# the answer (reference, solutions) and the grader's own code in the attempt's process (its
# modules, the worker running as __main__, the problems' tests and hooks, which time the ranks)
ALWAYS_FORBIDDEN_IMPORTS = ("reference", "solutions", "grader", "__main__", "problems")
# the grader's modules written for attempts to call: the CUDA launcher and the device checks
ATTEMPT_API = ("grader.runtime.cuda", "grader.runtime.device")
# the --impl kinds the rules apply to: not the reference (it is the spec, written with the very
# ops an attempt may not use) nor the generated null answers
RULED = ("attempt", "path", "solution", "wrong")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True, slots=True)
class Rules:
    """[rules]: what an attempt may not call, import or convert to, and why (one phrase)."""

    forbidden: tuple[str, ...] = ()  # torch.softmax, torch.Tensor.sum, torch.ops.aten._softmax
    imports: tuple[str, ...] = ALWAYS_FORBIDDEN_IMPORTS  # module prefixes
    casts: tuple[str, ...] = ()  # dtypes torch code may not convert values to or from
    reason: str = "the problem asks you to write it yourself"

    def __post_init__(self) -> None:
        for name in (*self.forbidden, *self.imports):
            if not _DOTTED.match(name):
                raise ValueError(f"'{name}' is not a dotted Python name")
        for name in self.casts:
            if not name.startswith("float") or not _DOTTED.match(name):
                raise ValueError(f"'{name}' is not a torch float dtype name")


def allowed_imports(kind: str, slug: str) -> tuple[str, ...]:
    """A shipped solution or wrong variant may import its own package (a variant holds only
    its bug and takes the rest from the solution); an attempt may not."""
    return (f"solutions.{slug}",) if kind in ("solution", "wrong") else ()


_RULES_KEYS = {"forbidden": list, "imports": list, "casts": list, "reason": str}


def parse_rules(where: str, slug: str, table: dict, error: type[Exception]) -> Rules:
    """[rules] of one problem.toml; `error(one line)` for anything malformed."""
    for key, value in table.items():
        if key not in _RULES_KEYS:
            raise error(f"{where}: unknown key 'rules.{key}' (allowed: {', '.join(_RULES_KEYS)})")
        if not isinstance(value, _RULES_KEYS[key]):
            kind = "an array of strings" if _RULES_KEYS[key] is list else "a string"
            raise error(f"{where}: key 'rules.{key}' must be {kind}, got {value!r}")
    for key in ("forbidden", "imports", "casts"):
        bad = [v for v in table.get(key, ()) if not isinstance(v, str)]
        if bad:
            raise error(f"{where}: 'rules.{key}' must hold strings, got {bad[0]!r}")
    imports = tuple(dict.fromkeys((*ALWAYS_FORBIDDEN_IMPORTS, *table.get("imports", ()))))
    try:
        return Rules(
            forbidden=tuple(table.get("forbidden", ())),
            imports=imports,
            casts=tuple(table.get("casts", ())),
            reason=table.get("reason", f"{slug} asks you to write it yourself"),
        )
    except ValueError as e:
        raise error(f"{where}: [rules]: {e}") from None
