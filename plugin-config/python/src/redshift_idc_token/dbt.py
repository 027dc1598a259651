"""``python -m redshift_idc_token.dbt ARGS``: dbt, with every connection signed in by the provider.

Why it exists: dbt-redshift (checked at 1.11.1) cannot take a custom ``credentials_provider``
and has no profile field for a token obtained elsewhere: its IdC methods open a browser
(``browser_identity_center``) or fetch an Okta/Entra token themselves and send it as
``EXT_JWT`` (``oauth_token_identity_center``). So the profile is a plain ``method: database``
one with placeholder credentials (``profiles.yml`` next to this package's README), and this
launcher wraps ``redshift_connector.connect`` inside the dbt process only: each connection dbt
opens drops the placeholder user and password and authenticates through
`redshift_idc_token.IdpTokenAuthPlugin`, which runs `redshift-idc-token` for the profile's
host. A run longer than a token's life keeps working, because every new connection gets a
fresh token (from the executable's cache while it is valid).

Replaces ``redshift-idc-token exec -- python -m redshift_idc_dbt``, which put one token in the
environment for the whole run.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Optional

from .provider import PROVIDER_NAME

__all__ = ["idc_connect_kwargs", "install", "main"]

# Keyword arguments of the `database` method, or of other auth, that an IdC token replaces.
_DROPPED = ("user", "password", "db_user", "iam", "access_key_id", "secret_access_key",
            "session_token", "credentials_provider", "token", "token_type")


def idc_connect_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Returns dbt's connect arguments rewritten for the provider (TLS forced on)."""
    out = {k: v for k, v in kwargs.items() if k not in _DROPPED}
    out.update(credentials_provider=PROVIDER_NAME, ssl=True)
    return out


def install(module: Optional[Any] = None) -> Callable[..., Any]:
    """Wraps ``module.connect`` (default: redshift_connector's) once and returns the wrapper."""
    target: Any = module
    if target is None:
        import redshift_connector as target
    original: Callable[..., Any] = target.connect
    if getattr(original, "_redshift_idc_wrapped", False):
        return original

    @functools.wraps(original)
    def connect(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **idc_connect_kwargs(kwargs))

    connect._redshift_idc_wrapped = True  # type: ignore[attr-defined]
    target.connect = connect
    return connect


def main(argv: Optional[list[str]] = None) -> int:
    install()
    from dbt.cli.main import cli  # type: ignore[import-not-found]  # dbt-core's entry point

    sys.argv = ["dbt", *(sys.argv[1:] if argv is None else argv)]
    result: int = cli()
    return result


if __name__ == "__main__":
    sys.exit(main())
