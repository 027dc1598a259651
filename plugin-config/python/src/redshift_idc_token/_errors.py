"""The one error type of the package: the executable could not give us a token.

Why it exists: callers (the credentials provider, the dbt launcher, your own code) need one
thing to catch, carrying the executable's own one-line explanation and its exit status, so
that a failure reads the same wherever it surfaces. It never carries the token or the
executable's stdout, which may hold one.
"""

from __future__ import annotations

from typing import Mapping, Optional

__all__ = ["EXIT_STATUS_NAMES", "TokenError", "exit_status_name"]

#: The executable's exit statuses and their names, as in plugin-config/exit-codes.json (the one
#: table; the tests fail when this copy differs from it).
EXIT_STATUS_NAMES: Mapping[int, str] = {
    0: "success",
    1: "internal",
    2: "usage",
    3: "credentials",
    4: "denied",
    5: "transient",
    6: "sign_in",
    7: "setup",
    126: "cannot_execute",
    127: "command_not_found",
}


def exit_status_name(status: Optional[int]) -> Optional[str]:
    """The name of an exit status (``"sign_in"`` for 6), or None for none or an unknown one."""
    return None if status is None else EXIT_STATUS_NAMES.get(status)


class TokenError(Exception):
    """`redshift-idc-token` could not be found or run, failed, timed out, or printed nonsense.

    ``exit_status`` is the executable's exit status (`EXIT_STATUS_NAMES`: 2 usage,
    3 credentials, 4 denied, 5 transient, 6 sign-in needed, 7 setup, ...), or None when it did
    not exit by itself; ``kind`` is its name.
    """

    def __init__(self, message: str, *, exit_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status

    @property
    def kind(self) -> Optional[str]:
        """The exit status's name from plugin-config/exit-codes.json, e.g. ``"sign_in"``."""
        return exit_status_name(self.exit_status)
