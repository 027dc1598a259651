"""`IdpTokenAuthPlugin`: a `redshift_connector` credentials provider that runs `redshift-idc-token`.

Why it exists: with ``credentials_provider="redshift_idc_token.IdpTokenAuthPlugin"`` the driver
itself asks for a fresh IAM Identity Center token on every connection, so a pool, a notebook or
a BI tool that connects all day never holds a stale one; the executable's shared disk cache
answers most of those calls in about 2 ms.

What redshift_connector 2.2.0 needs from a provider, and why this class looks as it does:

* It loads the class by dotted path (``IdpAuthHelper.load_credentials_provider``,
  ``dynamic_plugin_import``) and requires an ``IPlugin``; as an ``INativePlugin`` (through
  `CommonCredentialsProvider`) the token it returns is sent in the 'i' message after
  authentication request 14.
* The startup parameters ``idp_type=AwsIdc`` and ``token_type`` are sent only when the last
  component of the name is ``IdpTokenAuthPlugin`` (``Connection.set_idc_plugins_params``):
  hence the class name.
* ``token_type`` is read from the connection's `RedshiftProperty` *after* the provider ran, so
  the provider sets it there, as the driver's own IdpTokenAuthPlugin does.
* The driver's "Authentication must use an SSL connection" check knows only its own plugin
  names and only ``ssl is False``, so this provider checks what the driver will actually do
  (``Connection.__init__``): TLS only when ``ssl is True`` (the bool; a URL's ``"true"`` is
  clear text), and a verified certificate only with ``sslmode`` ``verify-ca`` or
  ``verify-full``. Anything else is refused. The mode the driver picks itself (for no sslmode,
  or one it does not support) does not check the host name, so the provider makes it
  verify-full (`require_host_name_check`).
* With ``REDSHIFT_CONNECTOR_PLUGIN_ALLOWLIST`` set, the driver loads only the names listed
  there: list ``redshift_idc_token.IdpTokenAuthPlugin``.

``connect()`` takes no arguments of its own, so the provider reads the driver's existing ones:
``host`` or ``cluster_identifier`` / ``serverless_work_group``, ``region``, ``profile`` and
``endpoint_url`` (the AWS API endpoint) choose the token; ``idp_response_timeout`` (the
driver's "timeout for authentication via an IdP", default 120 s) bounds the executable.

The executable is never chosen by a connect argument: a SQLAlchemy URL's query sets them, and
a URL must not choose a program to run. It is the copy installed with this package, or
``REDSHIFT_IDC_TOKEN_EXECUTABLE`` (the environment, outside any URL); ``login_url`` is refused.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from redshift_connector.error import InterfaceError
from redshift_connector.plugin.common_credentials_provider import CommonCredentialsProvider
from redshift_connector.plugin.native_token_holder import NativeTokenHolder
from redshift_connector.redshift_property import RedshiftProperty

from ._errors import TokenError, exit_status_name
from ._executable import ENV_EXECUTABLE
from ._token import get_token

__all__ = ["IdpTokenAuthPlugin", "PROVIDER_NAME"]

#: The value to pass as ``credentials_provider`` (and to list in the driver's allowlist).
PROVIDER_NAME = "redshift_idc_token.IdpTokenAuthPlugin"

#: The only ``sslmode`` values with which redshift_connector verifies the server's certificate.
VERIFYING_SSLMODES = ("verify-ca", "verify-full")

#: What the provider adds to the executable's own line, for each kind of failure of
#: plugin-config/exit-codes.json (the tests fail when a kind is missing here). Most need nothing:
#: the executable's line already says what to do.
FAILURE_HINTS: dict[str, str] = {
    "internal": "",
    "usage": " [connect arguments: host=, or cluster_identifier= or serverless_work_group= with region=]",
    "credentials": "",
    "denied": "",
    "transient": "",
    "sign_in": " [sign in with `redshift-idc-token login` (add --profile NAME if you use one), then connect again]",
    "setup": " [the IAM Identity Center application or the AWS profile must change: see your administrator]",
    "cannot_execute": "",
    "command_not_found": "",
}

_logger = logging.getLogger("redshift_idc_token")


class IdpTokenAuthPlugin(CommonCredentialsProvider):
    """Gets the connection's IAM Identity Center token from the `redshift-idc-token` executable."""

    def __init__(self) -> None:
        super().__init__()
        self._info: Optional[RedshiftProperty] = None

    def add_parameter(self, info: RedshiftProperty) -> None:
        # The base class turns the driver's in-process token cache off; the executable's disk
        # cache, shared by every process and keyed by identity, is the one that counts.
        super().add_parameter(info)
        self._info = info

    def _props(self) -> RedshiftProperty:
        if self._info is None:
            raise InterfaceError(f"{PROVIDER_NAME} was used before the driver passed it the connection's settings")
        return self._info

    def check_required_parameters(self) -> None:
        """Refuses settings under which the token must not or cannot be fetched, before any run."""
        info = self._props()  # (the base class's check is an empty abstract method)
        if info.login_url:
            raise InterfaceError(
                f"{PROVIDER_NAME} does not take login_url: connection settings (often a URL) must "
                "not choose a program to run; it runs the redshift-idc-token installed with it, or "
                f"${ENV_EXECUTABLE}; remove login_url")
        unverified = unverified_tls_setting(info)
        if unverified:
            raise InterfaceError(
                f"Authentication must use an SSL connection: refusing to send an IAM Identity "
                f"Center token with {unverified}")
        require_host_name_check(info)
        if info.iam:
            raise InterfaceError(f"{PROVIDER_NAME} cannot be used with iam=True; remove it")
        given = [name for name in ("token", "access_key_id", "secret_access_key", "session_token")
                 if getattr(info, name, None)]
        if given:
            raise InterfaceError(
                f"{PROVIDER_NAME} gets the token and AWS credentials itself; do not pass "
                f"{', '.join(given)} (choose the AWS identity with profile= or the AWS environment)")
        if not (info.host or info.cluster_identifier or info.serverless_work_group):
            raise InterfaceError(f"{PROVIDER_NAME} needs host=, cluster_identifier= or serverless_work_group=")
        if info.is_serverless and not info.serverless_work_group and not info.is_serverless_host:
            raise InterfaceError(
                f"is_serverless=True with host {info.host!r}, which is not a Redshift Serverless "
                "endpoint: pass serverless_work_group= (and region=)")

    def get_auth_token(self) -> str:
        """Runs the executable and returns the token; sets ``token_type`` for the startup message."""
        self.check_required_parameters()
        info = self._props()
        try:
            issued = get_token(**target_arguments(info), timeout=float(info.idp_response_timeout))
        except TokenError as exc:
            kind = exit_status_name(exc.exit_status)
            raise InterfaceError(str(exc) + FAILURE_HINTS.get(kind or "", "")) from exc
        info.put("token_type", issued.token_type)
        _logger.debug("token from %s, type %s, expires %s", issued.source, issued.token_type,
                      issued.expiration)
        return issued.token

    def refresh(self) -> None:
        # The base class's refresh() logs the token itself at DEBUG level; this one does not.
        credentials = NativeTokenHolder(access_token=self.get_auth_token(), expiration=None)
        credentials.refresh = True
        self.last_refreshed_credentials = credentials


def unverified_tls_setting(info: RedshiftProperty) -> Optional[str]:
    """The setting under which redshift_connector would not send over verified TLS, described
    with what to do; None when the connection will be verified TLS."""
    if info.ssl is not True:
        kind = f" (a {type(info.ssl).__name__})" if not isinstance(info.ssl, bool) else ""
        return (f"ssl={info.ssl!r}{kind}: redshift_connector uses TLS only when ssl is the bool "
                "True (its default); remove ssl")
    if info.sslmode not in VERIFYING_SSLMODES:
        return (f"sslmode={info.sslmode!r}: redshift_connector verifies the server's certificate "
                "only with sslmode 'verify-full' or 'verify-ca' (exactly so spelled), and sends in "
                "clear text with any other value; use sslmode=verify-full")
    return None


def require_host_name_check(info: RedshiftProperty) -> None:
    """Makes the driver check that the server's certificate names the host, unless the caller
    explicitly chose ``sslmode='verify-ca'``.

    Without that check any certificate from any trusted CA (the system's, the driver's Redshift
    bundle) would get the token. The driver does not check it for the mode it chooses itself:
    2.2 chooses a "defaulted" verify-full that only warns on a mismatch (for no sslmode, or one
    it does not support) and marks it ``sslmode_explicit=False``; 2.1 chooses verify-ca, and
    cannot tell it from a caller's, so there verify-ca always becomes verify-full.
    """
    explicit = getattr(info, "sslmode_explicit", None)  # None: a driver before 2.2
    if info.sslmode == "verify-full" and explicit is False:
        info.sslmode_explicit = True
    elif info.sslmode == "verify-ca" and explicit is None:
        info.put("sslmode", "verify-full")


def target_arguments(info: RedshiftProperty) -> dict[str, Any]:
    """The token's target from the connect arguments (the driver has parsed a Redshift host
    into cluster_identifier or serverless_work_group and region by now)."""
    target: dict[str, Any]
    if info.serverless_work_group:
        target = {"workgroup": info.serverless_work_group}
    elif info.cluster_identifier:
        target = {"cluster_id": info.cluster_identifier}
    else:
        target = {"host": info.host}
    target.update(region=info.region, profile=info.profile, endpoint_url=info.endpoint_url)
    return target
