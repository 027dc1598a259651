"""Run dbt against Redshift with the IAM Identity Center token that `redshift-idc-token exec` provides.

Why it exists: dbt-redshift (checked at 1.11.1) has no profile setting for a token obtained
elsewhere. Its IdC methods are `browser_identity_center` (the driver opens a browser) and
`oauth_token_identity_center` (dbt fetches an Okta/Entra refresh-token grant itself and always
sends token_type=EXT_JWT). So `profiles.yml` alone cannot pass the SUBJECT_TOKEN that
GetIdentityCenterAuthToken returns.

This launcher is the smallest bridge: in the dbt process only, it wraps
`redshift_connector.connect` so that, when ``REDSHIFT_IDC_TOKEN`` is set, every connection dbt
opens drops the placeholder user/password of a ``method: database`` profile and authenticates
with ``credentials_provider="IdpTokenAuthPlugin"``, ``token=$REDSHIFT_IDC_TOKEN`` and
``token_type=$REDSHIFT_IDC_TOKEN_TYPE`` (default SUBJECT_TOKEN). The token never appears in
profiles.yml, argv or logs. Use it with the profile in profiles.yml next to this file::

    redshift-idc-token exec --cluster-id mycluster --region us-east-1 -- \\
        python -m redshift_idc_dbt run          # any dbt arguments after the module name

(with this directory on PYTHONPATH). Without ``REDSHIFT_IDC_TOKEN`` it fails fast with a clear
message instead of falling back to the placeholder password.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

ENV_TOKEN = "REDSHIFT_IDC_TOKEN"
ENV_TOKEN_TYPE = "REDSHIFT_IDC_TOKEN_TYPE"
# Keyword arguments of the `database` method that make no sense with an IdC token.
_DROPPED = ("user", "password", "db_user", "iam", "profile", "access_key_id", "secret_access_key",
            "session_token", "credentials_provider", "token", "token_type")


class MissingTokenError(RuntimeError):
    """REDSHIFT_IDC_TOKEN is not set: dbt was not started by `redshift-idc-token exec`."""


def idc_connect_kwargs(kwargs: dict[str, Any], environ: Any = os.environ) -> dict[str, Any]:
    """Returns `kwargs` rewritten for IdC token authentication from the environment."""
    token = environ.get(ENV_TOKEN)
    if not token:
        raise MissingTokenError(
            f"{ENV_TOKEN} is not set; run dbt as `redshift-idc-token exec ... -- "
            "python -m redshift_idc_dbt <dbt args>`")
    out = {k: v for k, v in kwargs.items() if k not in _DROPPED}
    out.update(credentials_provider="IdpTokenAuthPlugin", token=token,
               token_type=environ.get(ENV_TOKEN_TYPE) or "SUBJECT_TOKEN")
    out["ssl"] = True  # the IdC plugin requires TLS
    return out


def install(module: Any = None) -> Callable[..., Any]:
    """Wraps `redshift_connector.connect` (once) and returns the wrapper."""
    if module is None:
        import redshift_connector as module
    original = module.connect
    if getattr(original, "_redshift_idc_wrapped", False):
        return original

    @functools.wraps(original)
    def connect(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **idc_connect_kwargs(kwargs))

    connect._redshift_idc_wrapped = True  # type: ignore[attr-defined]
    module.connect = connect
    return connect


def main(argv: list[str] | None = None) -> int:
    install()
    from dbt.cli.main import cli  # dbt-core's own console entry point

    sys.argv = ["dbt", *(sys.argv[1:] if argv is None else argv)]
    return cli()


if __name__ == "__main__":
    sys.exit(main())
