"""Docs stay honest: generated README sections are current, every query file has its header and
declares the parameters it uses, every SQL state/cause word is in the vocabulary, every command has help."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from conftest import REPO
from pipeline import docs
from pipeline import queries
from pipeline import vocabulary
from pipeline.cli import app


def test_readme_generated_sections_are_current():
    text = (REPO / "README.md").read_text()
    assert docs.render(text) == text, "run: python -m pipeline.docs README.md"
    for name in docs.sections():
        assert f"<!-- generated:{name} -->" in text


@pytest.mark.parametrize("query", queries.registry().values(), ids=lambda q: q.name)
def test_every_query_has_a_header_and_declares_its_parameters(query):
    assert query.title and query.why and query.name == query.path.stem and query.kind in queries.KINDS
    declared = {p.name for p in query.params}
    assert query.used_params == declared, f"{query.name} uses {query.used_params}, declares {declared}"


def test_sql_words_are_the_vocabulary():
    words = set(vocabulary.STATES) | set(vocabulary.OBSERVATIONS) | set(vocabulary.KINDS)
    for name in ("conversations", "findings"):
        sql = queries.get(name).sql
        quoted = set(re.findall(r"THEN '([a-z_]+)'", sql)) | set(re.findall(r"WHEN '([a-z_]+)' THEN", sql))
        assert quoted <= words | {"source", "destination", "path", "egress", "ingress"}, quoted - words


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    import typer.main

    def walk(group, prefix):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from walk(cmd, prefix + [name])
            else:
                yield prefix + [name], cmd

    for path, cmd in walk(typer.main.get_command(app), []):
        assert cmd.help and "Example: flowlogs" in cmd.help, path
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)


def test_report_layer_uses_the_vocabulary():
    from pipeline.analysis import document as report

    assert report.KINDS == tuple(vocabulary.KINDS)
    assert set(report.STATES) == set(vocabulary.STATES) - {"pending"}
    assert set(report.KIND_LABELS) == set(vocabulary.KINDS)
