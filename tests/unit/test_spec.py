"""problem.toml loading: every real problem parses; each malformation gives one line naming
the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli.app import app
from grader.problem.load import load_problem
from grader.problem.registry import ROOT, all_problems
from grader.problem.spec import SpecError

GOOD = (ROOT / "problems" / "rms_norm" / "problem.toml").read_text()


def test_every_shipped_problem_toml_loads():
    problems = all_problems()
    assert len(problems) >= 3
    for p in problems:
        assert p.entry and p.hints and p.cases, p.slug
        assert (ROOT / "reference" / f"{p.slug}.py").is_file(), p.slug


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "problems" / "demo" / "problem.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


BROKEN = {
    "unknown top-level key": ('flavour = "mint"\n' + GOOD, "unknown key 'flavour'"),
    "missing key": (GOOD.replace('title = "RMSNorm"\n', ""), "missing key 'title'"),
    "wrong type": (GOOD.replace("order = 5", 'order = "five"'), "'order' must be an integer"),
    "bad enum": (
        GOOD.replace('difficulty = "easy"', 'difficulty = "trivial"'),
        "'difficulty' must be one of easy, medium, hard",
    ),
    "bad toml": (GOOD.replace("[needs]", "[needs"), "not valid TOML"),
    "unknown nested key": (
        GOOD.replace("[needs]\n", "[needs]\ngpus = 2\n"),
        "unknown key 'needs.gpus'",
    ),
    "bad range": (
        GOOD.replace("rows = [1, 16]", "rows = [16, 1]"),
        "'random.ranges.rows' must be [low, high]",
    ),
    "bars out of order": (
        GOOD.replace("bronze = 0.5, silver = 0.75", "bronze = 0.8, silver = 0.75"),
        "bronze <= silver <= gold",
    ),
    "rules unknown key": (GOOD.replace("[rules]\n", "[rules]\nallow = []\n"), "'rules.allow'"),
    "rules wrong type": (
        GOOD.replace("[rules]\n", "[rules]\nimports = 'vllm'\n"),
        "'rules.imports' must be an array of strings",
    ),
    "rules not a name": (
        GOOD.replace('"torch.rms_norm"', '"torch..rms_norm"'),
        "[rules]: 'torch..rms_norm' is not a dotted Python name",
    ),
    "rules not a string": (GOOD.replace('"torch.rms_norm"', "3"), "'rules.forbidden' must hold"),
    "rules cast not a float dtype": (
        GOOD.replace("[rules]\n", "[rules]\ncasts = ['int8']\n"),
        "'int8' is not a torch float dtype name",
    ),
    "tolerance missing atol": (
        GOOD.replace("rtol = 2e-5\natol = 1e-6", "rtol = 2e-5"),
        "missing key 'tolerance.float32.atol'",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_malformed_problem_toml_fails_in_one_line_naming_file_and_key(tmp_path, name):
    text, words = BROKEN[name]
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_problem(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert words in message and "\n" not in message, message


def test_cli_reports_a_malformed_problem_toml_without_a_traceback(tmp_path):
    _write(tmp_path, 'flavour = "mint"\n' + GOOD)
    result = CliRunner().invoke(app, ["--root", str(tmp_path), "list"])
    assert result.exit_code == 2  # the only problem does not load: nothing to list
    assert "unknown key 'flavour'" in result.output and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: no problem loads")


def test_cli_names_an_unknown_problem_and_suggests_a_close_one():
    result = CliRunner().invoke(app, ["check", "rms_nrom"])
    assert result.exit_code == 2
    assert "unknown problem 'rms_nrom': did you mean 'rms_norm'?" in result.output
