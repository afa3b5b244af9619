"""The probe script's output as a source, out of whatever carried it: a terminal transcript of
``aws ecs execute-command`` (the Session Manager's own lines, carriage returns) or the log
events of the probe task.

Only the probe's JSON lines are kept; every other line becomes empty, so line numbers stay
those of the file. The identity is the digest of what is kept: the same probe output is one
source however it was saved.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass

_PROBE_LINE = re.compile(r'^\s*\{\s*"probe"\s*:\s*"flowlogs/')


@dataclass(frozen=True)
class ProbeOutput:
    name: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self):
        return io.BytesIO(self.data)

    def runs(self) -> list[str]:
        """The probe runs (``run``) the lines are of."""
        return sorted({json.loads(line).get("run") or "" for line in self.data.decode().splitlines() if line})

    def identity(self) -> tuple[str, str | None]:
        kept = b"\n".join(line for line in self.data.splitlines() if line)
        return hashlib.sha256(kept).hexdigest(), None


def probe_output(name: str, text: str) -> ProbeOutput:
    """The probe lines of ``text`` (the others blanked), as a source named ``name``."""
    lines = [line.strip() if _PROBE_LINE.match(line) else "" for line in text.splitlines()]
    return ProbeOutput(name, ("\n".join(lines) + "\n").encode())


def has_probe_lines(source: ProbeOutput) -> bool:
    return bool(source.data.strip())
