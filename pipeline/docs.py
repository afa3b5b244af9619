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


def sections() -> dict[str, str]:
    saved = ["| query | question | params |", "|---|---|---|"] + [
        f"| `{q.name}` | {q.title} | {q.params} |" for q in queries.registry().values()
    ]
    return {
        "schema": schema_markdown(),
        "states": vocabulary.markdown_table(vocabulary.STATES),
        "observations": vocabulary.markdown_table(vocabulary.OBSERVATIONS),
        "kinds": vocabulary.markdown_table(vocabulary.KINDS),
        "causes": vocabulary.markdown_table(vocabulary.CAUSES),
        "destinations": vocabulary.markdown_table(vocabulary.DESTINATION_TYPES),
        "queries": "\n".join(saved),
    }


def render(text: str) -> str:
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(\n<!-- /generated:{name} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + body + m.group(2), text)
    return text


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    with open(path) as f:
        original = f.read()
    with open(path, "w") as f:
        f.write(render(original))
