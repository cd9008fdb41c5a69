"""Hypothesis strategies built from problem.toml's [random] ranges and choices."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from grader.problem.registry import get_problem

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


def cases(slug: str, **overrides: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with one value per [random.ranges] / [random.choices] key; overrides replace keys
    with strategies of your own (or constants)."""
    problem = get_problem(slug)
    parts: dict[str, st.SearchStrategy] = {
        k: st.integers(lo, hi) for k, (lo, hi) in problem.ranges.items()
    }
    parts.update({k: st.sampled_from(v) for k, v in problem.choices.items()})
    for k, v in overrides.items():
        parts[k] = v if isinstance(v, st.SearchStrategy) else st.just(v)
    return st.fixed_dictionaries(parts)


def fixed_cases(slug: str) -> list[dict[str, Any]]:
    return list(get_problem(slug).cases)


def case_id(case: dict[str, Any]) -> str:
    """A readable pytest id: rows=3-H=33-float32."""
    return "-".join(str(v) if k in ("dtype", "values") else f"{k}={v}" for k, v in case.items())
