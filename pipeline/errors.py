"""Errors a user can act on: a message, a hint, and the exit status they map to.

Every error the library raises on purpose is a ``FlowlogsError`` (or a subclass), so
the command line shows it as ``Error: …`` / ``Hint: …`` with its exit status; anything
else reaching the command line is a bug or an environment failure (a full disk), shown
the same way with exit 2, the traceback only with ``--debug``.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_FOUND = 1  # findings over threshold, or rows quarantined / sources refused
EXIT_ERROR = 2  # the command could not do its job (bad option, no data, AWS error)


class FlowlogsError(Exception):
    """An error with a hint, shown as ``Error: …`` / ``Hint: …`` without a traceback."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_ERROR):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


_OS_HINTS = {
    errno.ENOSPC: "free some space (or point --lake elsewhere) and run the command again",
    errno.EDQUOT: "free some space (or point --lake elsewhere) and run the command again",
    errno.EROFS: "the file system is read-only: point --lake (or --output) at a writable place",
    errno.EACCES: "check the permissions of that path, or point --lake (or --output) elsewhere",
    errno.ENOTDIR: "a part of that path is a file, not a directory",
    errno.EISDIR: "that path is a directory; give a file",
    errno.ENOENT: "check the path (its folder must exist)",
}


def explain_unexpected(exc: BaseException) -> FlowlogsError:
    """An error the library did not raise on purpose, as something a user can read."""
    if isinstance(exc, FlowlogsError):
        return exc
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        text = exc.strerror or str(exc) or type(exc).__name__
        return FlowlogsError(f"{text}{where}", _OS_HINTS.get(exc.errno, "run it again with --debug for details"))
    if type(exc).__name__ == "OutOfMemoryException":  # DuckDB's, at --memory-limit with nothing left to spill
        return FlowlogsError(f"the query needs more memory than it may use: {exc}",
                             "raise --memory-limit (or $FLOWLOGS_MEMORY_LIMIT), or narrow it (--since/--until, --service)")
    return FlowlogsError(f"{type(exc).__name__}: {exc}",
                         "this is unexpected: run it again with --debug and report the traceback")
