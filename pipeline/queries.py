"""The SQL in ``queries/``: one file per query, loaded into one registry.

Each file starts with a header of ``-- key: value`` lines; a value may go on over the
next lines when they are indented (``--   more text``); the first other line ends the
header. Keys:

- ``name`` (the file's stem), ``title``, ``why``, ``category``, ``reads``;
- ``kind``: ``question`` (a saved question: ``flowlogs sql NAME -p …``), ``view`` (defines
  relations you query by name: ``flowlogs sql "SELECT … FROM NAME"``) or ``step`` (a piece
  of the analysis that flowlogs runs with values it computes; not runnable alone);
- ``param`` (one line each): ``NAME TYPE: help`` or ``NAME TYPE = DEFAULT: help``. Types:
  ``int``, ``text``, ``texts`` (a list, comma-separated on the command line), ``time`` (the
  command line's forms, ISO-8601 or relative like ``2h``; the SQL gets epoch seconds) and
  ``seconds`` (a duration like ``15m``; the SQL gets seconds). A parameter without a
  default is optional: absent, it is NULL and the SQL reads NULL as "any";
- view files: ``views`` (the relations they create, if more than the name), ``requires``
  (``flows(col, …)``: skipped unless the ``flows`` view has those columns), ``method``, and
  ``audience: sql`` for a view made for people's SQL that the analysis never reads (the reports'
  connections leave it out: creating a view over every flow record costs in proportion to the
  lake's files; a test checks no analysis query reads one).

Parameters are DuckDB named parameters (``$since``); the ones a file uses must be the
ones its header declares (a test checks every file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipeline.errors import FlowlogsError

KINDS = ("question", "view", "step")
PARAM_TYPES = ("int", "text", "texts", "time", "seconds")
NULL_WORDS = ("null", "any")

_HEADER = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")
_CONTINUED = re.compile(r"^--\s{2,}(\S.*)$")
_PARAM = re.compile(r"\$([a-z_]+)")
_PARAM_SPEC = re.compile(r"^([a-z_]+)\s+([a-z]+)(?:\s*=\s*([^:]+?))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    help: str

    def value(self, text: str | None):
        """The command line's text (or the default) as the SQL expects it; None (any) when absent."""
        from pipeline.times import TimeParseError, parse_duration, parse_time

        text = self.default if text is None else text
        if text is None or text.strip().lower() in NULL_WORDS:
            return None
        try:
            if self.type == "int":
                return int(text)
            if self.type == "time":
                return int(parse_time(text).timestamp())
            if self.type == "seconds":
                return int(text) if text.strip().isdigit() else int(parse_duration(text).total_seconds())
            if self.type == "texts":
                return [t.strip() for t in text.split(",") if t.strip()]
            return text
        except TimeParseError as exc:
            raise FlowlogsError(f"-p {self.name}={text}: {exc}", self.usage()) from None
        except ValueError:
            raise FlowlogsError(f"-p {self.name}={text}: not {self.type}", self.usage()) from None

    def usage(self) -> str:
        return f"{self.name} ({self.type}, default {self.default or 'any'}): {self.help}"


@dataclass(frozen=True)
class Query:
    name: str
    kind: str
    title: str
    why: str
    category: str
    params: tuple[Param, ...]
    sql: str
    path: Path
    header: dict = field(default_factory=dict, compare=False)

    @property
    def used_params(self) -> set[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return set(_PARAM.findall(body))

    @property
    def reads(self) -> set[str]:
        return _names(self.header.get("reads", ""))

    @property
    def creates(self) -> set[str]:
        """The relations a view file creates (its ``views`` header, else its name)."""
        return _names(self.header.get("views", "")) or {self.name}

    @property
    def requires(self) -> set[str] | None:
        """The ``flows`` columns a file needs (``-- requires: flows(a, b)``), or None if it needs no flows."""
        m = re.match(r"flows\((.*)\)", self.header.get("requires", "").strip())
        return {c.strip() for c in m.group(1).split(",") if c.strip()} if m else None

    def param_values(self, given: dict[str, str]) -> dict:
        """Every declared parameter's value from ``given`` (text from the command line) or its default."""
        names = {p.name for p in self.params}
        unknown = set(given) - names
        if unknown:
            hint = "; ".join(p.usage() for p in self.params) or "it takes no parameters"
            raise FlowlogsError(f"{self.name}: unknown parameter {', '.join(sorted(unknown))}", hint)
        return {p.name: p.value(given.get(p.name)) for p in self.params}


def _names(listing: str) -> set[str]:
    """``a, b() (note), c`` → {a, b, c}."""
    return {w.strip() for w in re.sub(r"\([^)]*\)", "", listing).split(",") if w.strip()}


def directory() -> Path:
    """``pipeline/queries`` in an installed wheel, the repository's ``queries/`` in a checkout."""
    packaged = Path(__file__).parent / "queries"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "queries"


def parse_header(text: str) -> dict[str, str | list[str]]:
    """The ``-- key: value`` lines at the top (``param`` lines as a list)."""
    header: dict = {"param": []}
    key = None
    for line in text.splitlines():
        match, more = _HEADER.match(line), _CONTINUED.match(line)
        if more and key is not None and not match:
            if key == "param":
                header["param"][-1] += " " + more.group(1).strip()
            else:
                header[key] += " " + more.group(1).strip()
        elif match:
            key, value = match.group(1), match.group(2).strip()
            if key == "param":
                header["param"].append(value)
            else:
                header[key] = value
        else:
            break
    return header


def _param(path: Path, spec: str) -> Param:
    m = _PARAM_SPEC.match(spec)
    if not m or m.group(2) not in PARAM_TYPES:
        raise ValueError(f"{path.name}: bad '-- param: {spec}'; write NAME TYPE[ = DEFAULT]: help, "
                         f"TYPE one of {', '.join(PARAM_TYPES)}")
    return Param(m.group(1), m.group(2), m.group(3), m.group(4))


def _parse(path: Path) -> Query:
    text = path.read_text()
    header = parse_header(text)
    return Query(
        name=header.get("name", path.stem),
        kind=header.get("kind", ""),
        title=header.get("title", ""),
        why=header.get("why", ""),
        category=header.get("category", ""),
        params=tuple(_param(path, p) for p in header.pop("param")),
        sql=text,
        path=path,
        header=header,
    )


@cache
def registry() -> dict[str, Query]:
    return {q.name: q for q in (_parse(p) for p in sorted(directory().glob("*.sql")))}


def get(name: str) -> Query:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r}; known: {', '.join(sorted(registry()))}") from None


def of_kind(kind: str) -> list[Query]:
    return [q for q in registry().values() if q.kind == kind]


def metadata_views(analysis: bool = False) -> list[Query]:
    """The metadata view files, each after the files creating what it reads; ``analysis``: not those
    made for people's SQL only (``audience: sql``)."""
    pending = [q for q in of_kind("view") if q.category == "metadata"
               and not (analysis and q.header.get("audience") == "sql")]
    made = {rel: q.name for q in pending for rel in q.creates}
    ordered: list[Query] = []
    while pending:
        ready = [q for q in pending
                 if all(made.get(r) in (None, q.name) or made[r] in {o.name for o in ordered} for r in q.reads)]
        if not ready:
            raise RuntimeError(f"queries/: the metadata views read each other in a cycle: {[q.name for q in pending]}")
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered
