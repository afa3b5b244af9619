"""What a newcomer meets first: --version, -h, clear refusals of times that mean nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import pipeline
from pipeline.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"flowlogs {pipeline.__version__}\n"


@pytest.mark.parametrize("path", [[], ["report"], ["report", "findings"], ["metadata", "import"], ["sql"]])
def test_dash_h_is_help_everywhere(path):
    short, long = runner.invoke(app, [*path, "-h"]), runner.invoke(app, [*path, "--help"])
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and "Usage:" in short.stdout


@pytest.mark.parametrize("value", ["-2h", "-30m", "- 7d"])
def test_negative_relative_times_are_refused_with_what_to_write(tmp_path, value):
    result = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "report", "findings", "--since", value])
    assert result.exit_code == 2
    assert "--since" in result.stderr and "positive duration back from now" in result.stderr
    assert f"{value[1:].strip()}, not {value}" in result.stderr and "Traceback" not in result.output


def test_whois_format_help_names_its_own_default():
    text = " ".join(runner.invoke(app, ["whois", "-h"], terminal_width=200).stdout.split())
    assert "json (the default)" in text and "default on a terminal" not in text
