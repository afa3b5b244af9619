"""What a DuckDB connection over the lake may use: memory, and a spill folder inside the lake.

Every connection the analysis opens gets ``apply``: a memory limit (``--memory-limit`` /
``$FLOWLOGS_MEMORY_LIMIT``, default half of the machine's memory, or of the container's if it is
smaller), and a temporary directory ``LAKE/_tmp/<host>--<pid>--<n>`` where DuckDB spills what does
not fit instead of failing. DuckDB creates that folder only when it spills and removes it when the
connection closes; folders of processes that died are removed by the next connection. A lake on
S3 spills to the system's temporary directory.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import tempfile
from typing import TYPE_CHECKING

from pipeline.errors import FlowlogsError

if TYPE_CHECKING:  # the CLI reads the option before any heavy library is imported
    from pipeline.lake.storage import Store

DEFAULT = "50%"
SCRATCH = "_tmp"
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)?\s*", re.IGNORECASE)
_limit = DEFAULT
_serial = itertools.count()


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's (cgroup) limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def memory_bytes(text: str) -> int:
    """``4GB``, ``500MiB``, ``3000000000`` or ``50%`` (of ``machine_memory``) in bytes."""
    match = _SIZE.fullmatch(text or "")
    if not match:
        raise FlowlogsError(f"--memory-limit: {text!r} is not a size",
                            "give bytes with a unit (4GB, 512MiB) or a share of this machine's memory (50%)")
    number, unit = float(match[1]), (match[2] or "").lower()
    size = int(machine_memory() * number / 100) if unit == "%" else int(number * _UNITS[unit])
    if unit == "%" and not 0 < number <= 100:
        raise FlowlogsError(f"--memory-limit: {text} is not a share of memory", "give a percentage from 1% to 100%")
    if size < 64 * 10**6:
        raise FlowlogsError(f"--memory-limit: {text} is less than 64 MB, too little for DuckDB to work in",
                            "give 64MB or more; 1GB or more for a lake of millions of records")
    return size


def set_memory_limit(text: str | None) -> None:
    """The limit of the connections opened from now on in this process (None: the default); checked now."""
    global _limit
    memory_bytes(text or DEFAULT)
    _limit = text or DEFAULT


def limit_bytes() -> int:
    """The memory limit of the connections opened now, in bytes."""
    return memory_bytes(_limit)


def apply(con, store: Store) -> str:
    """Set the memory limit and the spill folder of ``con``, a connection reading ``store``; returns the folder."""
    con.execute(f"SET memory_limit = '{limit_bytes()}B'")
    root = store.path(SCRATCH) if store.is_local else os.path.join(tempfile.gettempdir(), "flowlogs-duckdb")
    try:
        os.makedirs(root, exist_ok=True)
        _remove_dead(root)
    except OSError:  # a read-only lake: spill to the system's temporary directory
        root = os.path.join(tempfile.gettempdir(), "flowlogs-duckdb")
        os.makedirs(root, exist_ok=True)
    folder = os.path.join(root, f"{socket.gethostname()}--{os.getpid()}--{next(_serial)}")
    con.execute("SET temp_directory = '" + folder.replace("'", "''") + "'")
    return folder


def _remove_dead(root: str) -> None:
    """Remove the spill folders of processes of this host that are gone (killed mid-query)."""
    for entry in os.scandir(root):
        host, _, rest = entry.name.partition("--")
        pid = rest.partition("--")[0]
        if host == socket.gethostname() and pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
