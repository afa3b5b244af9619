"""The SQL in ``queries/``: one file per question, loaded into one registry.

Each file starts with a header of ``-- key: value`` lines (name, title, why, category,
params, reads). Parameters are DuckDB named parameters (``$since``); the ones a file
uses must be the ones its header declares (a test checks every file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HEADER = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")
_PARAM = re.compile(r"\$([a-z_]+)")


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    why: str
    category: str
    params: str
    sql: str
    path: Path

    @property
    def used_params(self) -> set[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return set(_PARAM.findall(body))


def directory() -> Path:
    """``pipeline/queries`` in an installed wheel, the repository's ``queries/`` in a checkout."""
    packaged = Path(__file__).parent / "queries"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "queries"


def _parse(path: Path) -> Query:
    meta: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _HEADER.match(line)
        if not match:
            break
        meta[match.group(1)] = match.group(2).strip()
    return Query(
        name=meta.get("name", path.stem),
        title=meta.get("title", ""),
        why=meta.get("why", ""),
        category=meta.get("category", ""),
        params=meta.get("params", ""),
        sql=path.read_text(),
        path=path,
    )


@cache
def registry() -> dict[str, Query]:
    return {q.name: q for q in (_parse(p) for p in sorted(directory().glob("*.sql")))}


def get(name: str) -> Query:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r}; known: {', '.join(sorted(registry()))}") from None
