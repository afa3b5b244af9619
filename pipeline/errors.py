"""Errors a user can act on: a message, a hint, and the exit status they map to."""

from __future__ import annotations

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
