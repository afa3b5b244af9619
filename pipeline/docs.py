"""The README's generated sections: the lake schema, the vocabulary, the saved queries.

``python -m pipeline.docs README.md`` rewrites the text between ``<!-- generated:NAME -->``
and ``<!-- /generated:NAME -->``; a test fails when the README is stale.
"""

from __future__ import annotations

import re
import sys

from pipeline import queries
from pipeline import vocabulary
from pipeline.fields import schema_markdown
from pipeline.tables import API_CALLS, DNS_QUERIES, PROBES


def _queries_table() -> str:
    lines = ["| query | kind | what it answers | parameters (absent: any) |", "|---|---|---|---|"]
    for kind in queries.KINDS:
        for q in queries.of_kind(kind):
            params = "<br>".join(f"`{p.name}` {p.type}{f' = {p.default}' if p.default else ''}: {p.help}"
                                 for p in q.params)
            lines.append(f"| `{q.name}` | {q.kind} | {q.title} | {params or '–'} |")
    return "\n".join(lines)


def sections() -> dict[str, str]:
    words = {name: vocabulary.markdown_table(table) for name, table in vocabulary.WORDS.items()}
    return {"schema": schema_markdown(), "schema_api_calls": API_CALLS.markdown(),
            "schema_dns_queries": DNS_QUERIES.markdown(), "schema_probes": PROBES.markdown(), **words, "queries": _queries_table()}


def render(text: str) -> str:
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    with open(path) as f:
        original = f.read()
    with open(path, "w") as f:
        f.write(render(original))
