"""The one error type of the package: the executable could not give us a token.

Why it exists: callers (the credentials provider, the dbt launcher, your own code) need one
thing to catch, carrying the executable's own one-line explanation and its exit status, so
that a failure reads the same wherever it surfaces. It never carries the token or the
executable's stdout, which may hold one.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["TokenError"]


class TokenError(Exception):
    """`redshift-idc-token` could not be found or run, failed, timed out, or printed nonsense.

    ``exit_status`` is the executable's exit status (see the README's exit codes: 2 usage,
    3 credentials, 4 denied, 5 transient), or None when it did not exit by itself.
    """

    def __init__(self, message: str, *, exit_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status
