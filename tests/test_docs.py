"""Docs stay honest: generated README sections are current, every query file has its header and
declares the parameters it uses, every SQL state/cause word is in the vocabulary, every command has help."""

from __future__ import annotations

import ast
import re

import pytest
from typer.testing import CliRunner

from conftest import REPO, cli_commands
from pipeline import docs
from pipeline import queries
from pipeline import vocabulary
from pipeline.cli import app


def test_readme_generated_sections_are_current():
    text = (REPO / "README.md").read_text()
    assert docs.render(text) == text, "run: python -m pipeline.docs README.md"
    for name in docs.sections():
        assert f"<!-- generated:{name} -->" in text


def test_readme_documents_every_field_query_word_and_command():
    """In the style of datasette's test_docs.py: what the code defines, the README names."""
    from pipeline.fields import EXTRA_COLUMNS, FIELDS

    text = (REPO / "README.md").read_text()
    missing = [f"field {c}" for c in [f.column for f in FIELDS] + [e[0] for e in EXTRA_COLUMNS] if f"`{c}`" not in text]
    missing += [f"query {q}" for q in queries.registry() if f"`{q}`" not in text]
    missing += [f"{cls} word {w}" for cls, words in vocabulary.WORDS.items() for w in words if f"`{w}`" not in text]
    missing += [f"command {' '.join(p)}" for p, _ in cli_commands() if " ".join(p) not in text]
    assert not missing, f"README.md does not name: {missing} (python -m pipeline.docs README.md regenerates its tables)"


@pytest.mark.parametrize("query", queries.registry().values(), ids=lambda q: q.name)
def test_every_query_has_a_header_and_declares_its_parameters(query):
    assert query.title and query.why and query.name == query.path.stem and query.kind in queries.KINDS
    declared = {p.name for p in query.params}
    assert query.used_params == declared, f"{query.name} uses {query.used_params}, declares {declared}"


def _sql_literals(sql: str) -> set[str]:
    """The word literals of the SQL outside comments (two letters or more: 'g' is a regexp option)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return set(re.findall(r"'([a-z_]{2,})'", body))


def test_sql_words_are_the_vocabulary():
    """Every word literal in the analysis SQL and the questions is a vocabulary word, an AWS value, a relation
    name, or a value the metadata SQL itself produces (e.g. address_static()'s kinds)."""
    words = set().union(*vocabulary.WORDS.values(), vocabulary.AWS_VALUES)
    metadata = [q for q in queries.registry().values() if q.category == "metadata"]
    allowed = words | set().union(*(q.creates for q in queries.registry().values()))
    allowed |= set().union(*(_sql_literals(q.sql) for q in metadata))
    for query in queries.registry().values():
        if query.category != "metadata":
            unknown = _sql_literals(query.sql) - allowed
            assert not unknown, f"queries/{query.path.name}: {sorted(unknown)} not in pipeline/vocabulary.py"


def _restatements(tree: ast.Module) -> list[tuple[int, str, set[str]]]:
    """Module-level constants that define words again: a dict keyed by two or more words of one class
    (labels, colours, a mapping), or a list of words (two or more of one class, nothing else). Tables
    that pair a pattern with the word it means (recognition rules) use the words, they do not restate them."""
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        for literal in ast.walk(node.value):
            if isinstance(literal, ast.Dict):
                strings = [k.value for k in literal.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            elif isinstance(literal, (ast.Set, ast.Tuple, ast.List)):
                strings = [e.value for e in literal.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if len(strings) < len(literal.elts):
                    continue
            else:
                continue
            for name, words in vocabulary.WORDS.items():
                if len(set(strings) & set(words)) >= 2:
                    found.append((literal.lineno, name, set(strings) & set(words)))
    return found


def test_no_module_restates_the_vocabulary():
    """Words, labels and colours are defined in vocabulary.py only; other modules read them. (metadata/ and
    ingest/ speak AWS's words, some of which are also destination types; rules inside functions use words.)"""
    package = REPO / "pipeline"
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.name == "vocabulary.py" or rel.parts[0] in ("metadata", "ingest"):
            continue
        found = _restatements(ast.parse(path.read_text()))
        assert not found, f"pipeline/{rel}: restates vocabulary words {found}; read them from pipeline/vocabulary.py"


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for path, cmd in cli_commands():
        assert cmd.help and "Example: flowlogs" in cmd.help, path
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)


def test_report_layer_uses_the_vocabulary():
    from pipeline.analysis import document as report

    assert report.KINDS == tuple(vocabulary.KINDS)
    assert set(report.STATES) == set(vocabulary.STATES) - {"pending"}
    assert set(report.KIND_LABELS) == set(vocabulary.KINDS)
