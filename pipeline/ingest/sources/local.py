"""Local files and folders as sources, identified by their content."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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

    def identity(self) -> tuple[str, str | None]:
        """(ingest id, etag): the SHA-256 of the bytes, so a copy under another path is the same source."""
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(4 << 20):
                digest.update(chunk)
        return digest.hexdigest(), None


def local_sources(paths: Iterable[str | os.PathLike]) -> list[LocalFile]:
    """Every file under ``paths`` (files or directories), sorted; hidden files and docs skipped."""
    found: list[LocalFile] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {raw}")
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in candidates:
            rel = p.relative_to(path) if p != path else Path(p.name)
            if any(part.startswith(".") for part in rel.parts) or p.suffix in SKIP_SUFFIXES:
                continue
            found.append(LocalFile(str(p), p.stat().st_size))
    return found
