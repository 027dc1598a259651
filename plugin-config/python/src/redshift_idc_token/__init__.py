"""Amazon Redshift sign-in with IAM Identity Center, for Python.

Why it exists: the wheel that carries this module also installs the `redshift-idc-token`
executable, and this module is the thin, typed shell that lets Python use it:

* ``credentials_provider="redshift_idc_token.IdpTokenAuthPlugin"`` in
  ``redshift_connector.connect(...)`` (also through SQLAlchemy's ``connect_args`` and pandas):
  the driver gets a fresh token for every connection (`provider`);
* ``get_token(...)`` for code that wants the token itself (`_token`);
* ``python -m redshift_idc_token.dbt`` runs dbt with the provider (`dbt`);
* ``python -m redshift_idc_token ...`` runs the executable (`__main__`).

`IdpTokenAuthPlugin` is imported on first use, so that the rest works without
redshift_connector installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import EXIT_STATUS_NAMES, TokenError
from ._executable import ENV_EXECUTABLE, find_executable
from ._token import DEFAULT_TIMEOUT, IssuedToken, get_token

if TYPE_CHECKING:
    from .provider import IdpTokenAuthPlugin

__all__ = ["DEFAULT_TIMEOUT", "ENV_EXECUTABLE", "EXIT_STATUS_NAMES", "IdpTokenAuthPlugin", "IssuedToken", "TokenError",
           "find_executable", "get_token", "__version__"]


def __getattr__(name: str) -> Any:
    # redshift_connector resolves the dotted name with getattr() on this module (PEP 562).
    if name == "IdpTokenAuthPlugin":
        from .provider import IdpTokenAuthPlugin

        return IdpTokenAuthPlugin
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("redshift-idc-token")
        except PackageNotFoundError:  # imported from a source tree, not installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
