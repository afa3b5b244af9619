"""Where the lake's files live: a local directory or an S3 prefix, behind one API.

Every write is atomic: a reader sees the old file or the new one, never half a file.
Locally that is a temporary file in the same directory and ``os.replace``; on S3 a
single PUT is already atomic.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Store:
    """A root (local path or ``bucket/prefix``) on a pyarrow filesystem."""

    fs: pafs.FileSystem
    root: str
    s3_options: dict | None = field(default=None, repr=False, compare=False)  # holds credentials: never print

    @classmethod
    def open(cls, location: str | os.PathLike, *, s3_options: dict | None = None, create: bool = True) -> "Store":
        """Open ``s3://bucket/prefix`` or a local directory (created if missing, unless ``create`` is false)."""
        text = str(location)
        if text.startswith("s3://"):
            options = {"retry_strategy": pafs.AwsDefaultS3RetryStrategy(max_attempts=10), **(s3_options or {})}
            return cls(pafs.S3FileSystem(**options), text[len("s3://"):].rstrip("/"), s3_options)
        path = Path(text).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "the lake must be a directory, and this is a file", text)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return cls(pafs.LocalFileSystem(), str(path))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def uri(self) -> str:
        return self.root if self.is_local else f"s3://{self.root}"

    def path(self, relpath: str) -> str:
        return posixpath.join(self.root, relpath) if relpath else self.root

    def exists(self, relpath: str) -> bool:
        return self.fs.get_file_info(self.path(relpath)).type != pafs.FileType.NotFound

    def read_bytes(self, relpath: str) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        try:
            with self.fs.open_input_stream(self.path(relpath)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write_bytes(self, relpath: str, data: bytes) -> None:
        target = self.path(relpath)
        if self.is_local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:  # a full disk: leave no half-written file behind
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
        else:
            with self.fs.open_output_stream(target) as f:
                f.write(data)

    def write_parquet(self, relpath: str, table: pa.Table) -> int:
        """Write ``table`` as one zstd Parquet file at ``relpath``; returns bytes written."""
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        self.write_bytes(relpath, data)
        return len(data)

    def publish(self, local_file: str, relpath: str) -> None:
        """Move a finished local file into the store at ``relpath`` (atomically)."""
        target = self.path(relpath)
        if self.is_local:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(local_file, target)
            return
        with open(local_file, "rb") as src, self.fs.open_output_stream(target) as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
        os.remove(local_file)

    def delete(self, relpath: str) -> None:
        try:
            self.fs.delete_file(self.path(relpath))
        except FileNotFoundError:
            pass

    def list_files(self, relpath: str, suffix: str = "") -> list[str]:
        """Paths relative to the root of the files below ``relpath`` (recursive, sorted)."""
        return list(self.sizes(relpath, suffix))

    def sizes(self, relpath: str, suffix: str = "") -> dict[str, int]:
        """Path relative to the root -> bytes, of the files below ``relpath`` (recursive, sorted by path)."""
        selector = pafs.FileSelector(self.path(relpath), recursive=True, allow_not_found=True)
        prefix = self.root.rstrip("/") + "/"
        return dict(sorted(
            (info.path[len(prefix):], info.size)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.endswith(suffix)
        ))
