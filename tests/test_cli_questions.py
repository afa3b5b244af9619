"""Every saved question runs through `flowlogs sql NAME`: with no parameters (absent = any) and
with each one, in the command line's forms; views and steps are refused with what to do instead."""

from __future__ import annotations

import functools
import json

import pytest
from typer.testing import CliRunner

from pipeline import queries
from pipeline.cli import app

runner = CliRunner()
# A value of each type that selects something in the sample account.
SAMPLE_VALUES = {"int": "443", "time": "2026-11-27T10:00Z", "seconds": "15m", "texts": "eni-0cf28f65e408fc146,10.20.2.129",
                 "text": "x"}
QUESTIONS = queries.of_kind("question")


def same(a: list, b: list) -> bool:
    """As many rows, with the same first column, in any order (ORDER BY may leave ties)."""
    def first(rows):
        return sorted(json.dumps(next(iter(r.values()))) for r in rows)
    return first(a) == first(b)


def everything(lake, name: str) -> list:
    return _everything(lake.uri, name)


@functools.cache
def _everything(uri: str, name: str) -> list:
    result = runner.invoke(app, ["--lake", uri, "sql", name, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def sql(lake, *args, code=0):
    result = runner.invoke(app, ["--lake", lake.uri, "sql", *args, "--format", "json"])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.stdout if code == 0 else result.output


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.name)
def test_every_question_runs_without_parameters(sample_lake, question):
    rows = everything(sample_lake, question.name)
    assert rows, f"{question.name} with every parameter absent (any) found nothing in the sample account"


@pytest.mark.parametrize("question,param", [(q, p) for q in QUESTIONS for p in q.params],
                         ids=lambda v: getattr(v, "name", ""))
def test_every_question_runs_with_each_parameter(sample_lake, question, param):
    some = json.loads(sql(sample_lake, question.name, "-p", f"{param.name}={SAMPLE_VALUES[param.type]}"))
    assert some and len(some) <= len(everything(sample_lake, question.name))
    if param.type == "int":  # NULL is any; a value nothing matches selects nothing
        assert same(json.loads(sql(sample_lake, question.name, "-p", f"{param.name}=NULL")),
                    everything(sample_lake, question.name))
        assert json.loads(sql(sample_lake, question.name, "-p", f"{param.name}=1")) == []


def test_relative_times_are_converted(sample_lake):
    # the sample account is in the past: everything is older than 1h ago, nothing newer
    assert json.loads(sql(sample_lake, "rejects", "-p", "since=1h")) == []
    assert same(json.loads(sql(sample_lake, "rejects", "-p", "until=1h")), everything(sample_lake, "rejects"))


@pytest.mark.parametrize("view", queries.of_kind("view"), ids=lambda q: q.name)
def test_views_are_refused_with_how_to_query_them(sample_lake, view):
    out = sql(sample_lake, view.name, code=2)
    assert f'{view.name} is a view; query it with flowlogs sql "SELECT … FROM {view.name}"' in out


def test_steps_and_bad_parameters_are_refused(sample_lake):
    assert "not a question" in sql(sample_lake, "evidence", code=2)
    out = sql(sample_lake, "rejects", "-p", "nope=1", code=2)
    assert "unknown parameter nope" in out and "since (time" in out
    assert "-p port=abc: not int" in sql(sample_lake, "talkers", "-p", "port=abc", code=2)
    assert "-p since=soon" in sql(sample_lake, "rejects", "-p", "since=soon", code=2)


def test_list_shows_questions_with_parameters_and_defaults(sample_lake):
    listed = {r["name"]: r for r in json.loads(sql(sample_lake, "--list"))}
    assert set(listed) == {q.name for q in QUESTIONS}
    assert "port (int, default any)" in listed["talkers"]["params"]
    assert "since (time, default any)" in listed["rejects"]["params"]
