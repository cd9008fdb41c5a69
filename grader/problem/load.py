"""problem.toml read with tomllib into the dataclasses of grader/problem/spec.py; every schema
violation raises SpecError naming the file and the key."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib

from grader.problem.rules import parse_rules
from grader.problem.spec import (
    BASELINES,
    DIFFICULTIES,
    LANGUAGES,
    METRICS,
    NEEDS,
    TIERS,
    Peer,
    Perf,
    Problem,
    SpecError,
    StaticRule,
    Tolerance,
)

_TYPE_NAMES = {str: "string", int: "integer", float: "number", list: "array", dict: "table"}

_TOP = {
    "title": str,
    "difficulty": str,
    "language": str,
    "track": str,
    "order": int,
    "tags": list,
    "entry": list,
    "optional": list,
    "signature": str,
    "hints": list,
    "questions": list,
    "mock_minutes": int,
    "needs": dict,
    "timeouts": dict,
    "limits": dict,
    "cases": list,
    "random": dict,
    "tolerance": dict,
    "perf": dict,
    "static": list,
    "interpreter": dict,
    "params": dict,
    "peers": dict,
    "rules": dict,
}
_REQUIRED = (
    "title",
    "difficulty",
    "language",
    "track",
    "order",
    "entry",
    "signature",
    "hints",
    "needs",
    "timeouts",
    "cases",
    "tolerance",
)


def load_problem(toml_path: Path) -> Problem:
    """Parse one problem.toml; every schema violation raises SpecError naming file and key."""
    where = str(toml_path)
    try:
        raw = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{where}: not valid TOML ({e})") from None
    except OSError as e:
        raise SpecError(f"{where}: cannot read ({e.strerror})") from None
    _check_keys(where, "", raw, _TOP, _REQUIRED)
    _one_of(where, "difficulty", raw["difficulty"], DIFFICULTIES)
    _one_of(where, "language", raw["language"], LANGUAGES)
    rnd = raw.get("random", {})
    _check_keys(where, "random.", rnd, {"ranges": dict, "choices": dict}, ())
    interp = raw.get("interpreter", {})
    _check_keys(where, "interpreter.", interp, {"untrusted_dtypes": list, "note": str}, ())
    return Problem(
        slug=toml_path.parent.name,
        path=toml_path.parent,
        title=raw["title"],
        difficulty=raw["difficulty"],
        language=raw["language"],
        track=raw["track"],
        order=raw["order"],
        tags=tuple(raw.get("tags", ())),
        entry=tuple(raw["entry"]),
        optional=tuple(raw.get("optional", ())),
        signature=raw["signature"],
        hints=tuple(raw["hints"]),
        questions=tuple(raw.get("questions", ())),
        mock_minutes=raw.get("mock_minutes", 30),
        needs=_needs(where, raw["needs"]),
        timeouts=_timeouts(where, raw["timeouts"]),
        limits=_limits(where, raw.get("limits", {})),
        cases=tuple(raw["cases"]),
        ranges=_ranges(where, rnd.get("ranges", {})),
        choices={k: tuple(v) for k, v in rnd.get("choices", {}).items()},
        tolerance=_tolerances(where, raw["tolerance"]),
        perf={dev: _perf(where, dev, sec) for dev, sec in raw.get("perf", {}).items()},
        static=tuple(_static(where, i, r) for i, r in enumerate(raw.get("static", []))),
        untrusted_in_interpreter=tuple(interp.get("untrusted_dtypes", ())),
        interpreter_note=interp.get("note", ""),
        params=raw.get("params", {}),
        peers={name: _peer(where, name, sec) for name, sec in raw.get("peers", {}).items()},
        rules=parse_rules(where, toml_path.parent.name, raw.get("rules", {}), SpecError),
    )


def _check_keys(where: str, prefix: str, table: dict, allowed: dict, required: tuple) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise SpecError(f"{where}: unknown key '{prefix}{key}' (allowed: {', '.join(allowed)})")
        if not isinstance(value, allowed[key]) or isinstance(value, bool) and allowed[key] is int:
            types = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
            kind = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            article = "an" if kind[0] in "aeiou" else "a"
            raise SpecError(f"{where}: key '{prefix}{key}' must be {article} {kind}, got {value!r}")
    for key in required:
        if key not in table:
            raise SpecError(f"{where}: missing key '{prefix}{key}'")


def _one_of(where: str, key: str, value: Any, options: tuple) -> None:
    if value not in options:
        raise SpecError(f"{where}: '{key}' must be one of {', '.join(options)}, got {value!r}")


def _needs(where: str, table: dict) -> dict[str, str]:
    _check_keys(where, "needs.", table, {"correctness": str, "perf": str}, ("correctness",))
    for key, value in table.items():
        _one_of(where, f"needs.{key}", value, NEEDS)
    return dict(table)


def _timeouts(where: str, table: dict) -> dict[str, float]:
    _check_keys(where, "timeouts.", table, {"check": int, "bench": int}, ("check", "bench"))
    return {k: float(v) for k, v in table.items()}


LIMITS = {"memory_mb": 8192, "cpu_s": 1200}  # per worker process; [limits] may raise them


def _limits(where: str, table: dict) -> dict[str, int]:
    _check_keys(where, "limits.", table, {"memory_mb": int, "cpu_s": int}, ())
    return {**LIMITS, **table}


def _ranges(where: str, table: dict) -> dict[str, tuple[int, int]]:
    out = {}
    for key, value in table.items():
        if not (isinstance(value, list) and len(value) == 2 and value[0] <= value[1]):
            raise SpecError(f"{where}: 'random.ranges.{key}' must be [low, high], got {value!r}")
        out[key] = (value[0], value[1])
    return out


def _tolerances(where: str, table: dict) -> dict[str, Tolerance]:
    out = {}
    for dtype, tol in table.items():
        prefix = f"tolerance.{dtype}."
        _check_keys(
            where, prefix, tol, {"rtol": (int, float), "atol": (int, float)}, ("rtol", "atol")
        )
        out[dtype] = Tolerance(float(tol["rtol"]), float(tol["atol"]))
    return out


_PERF_KEYS = {
    "metric": str,
    "baseline": str,
    "entry": str,
    "bars": dict,
    "cases": list,
    "budget_s": (int, float),
    "solution": str,
}


def _perf(where: str, device: str, sec: Any) -> Perf:
    _one_of(where, "perf.<device>", device, ("cpu", "gpu", "multi_gpu"))
    if not isinstance(sec, dict):
        raise SpecError(f"{where}: [perf.{device}] must be a table")
    prefix = f"perf.{device}."
    _check_keys(where, prefix, sec, _PERF_KEYS, ("metric", "baseline", "entry", "bars", "cases"))
    _one_of(where, prefix + "metric", sec["metric"], METRICS)
    _one_of(where, prefix + "baseline", sec["baseline"], BASELINES)
    bars = sec["bars"]
    _check_keys(where, prefix + "bars.", bars, dict.fromkeys(TIERS, (int, float)), TIERS)
    if not bars["bronze"] <= bars["silver"] <= bars["gold"]:
        raise SpecError(f"{where}: '{prefix}bars' must satisfy bronze <= silver <= gold")
    return Perf(
        device=device,
        metric=sec["metric"],
        baseline=sec["baseline"],
        entry=sec["entry"],
        bars={k: float(v) for k, v in bars.items()},
        cases=tuple(sec["cases"]),
        budget_s=float(sec.get("budget_s", 10.0)),
        solution=sec.get("solution"),
    )


_PEER_KEYS = {"label": str, "function": str, "requires": list, "devices": list, "note": str}


def _peer(where: str, name: str, sec: Any) -> Peer:
    if not isinstance(sec, dict):
        raise SpecError(f"{where}: [peers.{name}] must be a table")
    _check_keys(where, f"peers.{name}.", sec, _PEER_KEYS, ("label", "function"))
    try:
        return Peer(
            name=name,
            label=sec["label"],
            function=sec["function"],
            requires=tuple(sec.get("requires", ())),
            devices=tuple(sec.get("devices", NEEDS)),
            note=sec.get("note", ""),
        )
    except ValueError as e:
        raise SpecError(f"{where}: {e}") from None


def _static(where: str, i: int, rule: Any) -> StaticRule:
    allowed = {
        f.name: (str if f.name in ("name", "function") else list) for f in fields(StaticRule)
    }
    if not isinstance(rule, dict):
        raise SpecError(f"{where}: [[static]] entry {i} must be a table")
    _check_keys(where, f"static[{i}].", rule, allowed, ("name",))
    return StaticRule(
        name=rule["name"],
        require=tuple(rule.get("require", ())),
        require_any=tuple(rule.get("require_any", ())),
        forbid=tuple(rule.get("forbid", ())),
        function=rule.get("function"),
    )
