"""Local files and folders as sources, identified by their AWS delivery name, else their content."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.keys import delivery_id
from pipeline.lake.store import VERSION_FILE

SKIP_SUFFIXES = (".md",)


@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int

    @property
    def name(self) -> str:
        return self.path

    def open(self):
        return open(self.path, "rb")

    def delivery_read(self) -> str | None:
        """The ingest id of a gzip AWS delivery, whose version (its content's digest) can be taken while it
        is read instead of by inflating it first (``readers.ContentDigest``); None for any other file."""
        delivery = delivery_id(self.path)
        if delivery is None:
            return None
        with open(self.path, "rb") as f:
            return delivery if f.read(2) == b"\x1f\x8b" else None

    def identity(self) -> tuple[str, str | None]:
        """(ingest id, version). An AWS delivery is known by its file name (``keys.delivery_id``), its
        version being its content; any other file by its content. The content is the SHA-256 of the
        decompressed bytes, so a copy gunzipped, gzipped again or under another path is the same."""
        content = content_digest(self.path)
        delivery = delivery_id(self.path)
        return (delivery, content) if delivery else (content, None)


def content_digest(path: str) -> str:
    """SHA-256 of a file's bytes, decompressed if it is gzip (of its raw bytes if the gzip is damaged)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    try:
        return _digest(gzip.open(path, "rb") if gz else open(path, "rb"))
    except (OSError, EOFError, zlib.error):  # damaged: the raw bytes are still a stable identity
        return _digest(open(path, "rb"))


def _digest(stream) -> str:
    digest = hashlib.sha256()
    with stream as f:
        while chunk := f.read(4 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def local_sources(paths: Iterable[str | os.PathLike], *, notes: list[str] | None = None) -> list[LocalFile]:
    """Every file under ``paths`` (files or directories), sorted; hidden files and docs skipped.

    A lake is never input: a folder holding a lake's version file (the lake being written
    included, with its ``_state/``, staging and lock files) is skipped, and said in ``notes``.
    """
    found: list[LocalFile] = []
    notes = [] if notes is None else notes
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {raw}")
        lake = _enclosing_lake(path.resolve())
        if lake is not None:
            notes.append(f"skipped {raw}: it is inside the lake {lake}; a lake is never read as input")
            continue
        for p in [path] if path.is_file() else _walk(path, notes):
            rel = p.relative_to(path) if p != path else Path(p.name)
            if any(part.startswith(".") for part in rel.parts) or p.suffix in SKIP_SUFFIXES:
                continue
            found.append(LocalFile(str(p), p.stat().st_size))
    return found


def _enclosing_lake(path: Path) -> Path | None:
    """The lake ``path`` is in (or is), if any."""
    for folder in [path, *path.parents] if path.is_dir() else path.parents:
        if (folder / VERSION_FILE).is_file():
            return folder
    return None


def _walk(root: Path, notes: list[str]) -> list[Path]:
    """The files below ``root``, sorted, without the lakes among its folders."""
    files = []
    for folder, dirs, names in os.walk(root):
        if VERSION_FILE in names:
            notes.append(f"skipped {folder}: it is a lake (it holds {VERSION_FILE}); a lake is never read as input")
            dirs.clear()
            continue
        dirs.sort()
        files += [Path(folder) / n for n in names if (Path(folder) / n).is_file()]
    return sorted(files)
