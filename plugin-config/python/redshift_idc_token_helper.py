"""Connect Python code to Amazon Redshift with an IAM Identity Center token from `redshift-idc-token`.

Why it exists: `redshift_connector` can authenticate with an IdC token through its
`IdpTokenAuthPlugin`, but something has to fetch that token. This module runs the
`redshift-idc-token` executable with `--format python`, whose stdout is exactly the keyword
arguments the driver takes::

    {"credentials_provider": "IdpTokenAuthPlugin", "token": "...", "token_type": "SUBJECT_TOKEN"}

and hands them to `redshift_connector.connect`. The token travels only through the child's
stdout pipe: it is never put in argv or the environment, and it is not logged.

Usage::

    import redshift_idc_token_helper as rit
    conn = rit.connect(host="mycluster.abc123.us-east-1.redshift.amazonaws.com", database="dev")
    # or, to pass the arguments yourself:
    kwargs = rit.get_token_kwargs(cluster_id="mycluster", region="us-east-1")
    conn = redshift_connector.connect(host=..., database="dev", **kwargs)

Only the standard library is needed for `get_token_kwargs`; `connect` also needs
`redshift_connector`.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any, Mapping, Sequence

__all__ = ["TokenHelperError", "get_token_kwargs", "connect"]

# The keys `--format python` prints, all of which redshift_connector.connect accepts.
_REQUIRED_KEYS = ("credentials_provider", "token", "token_type")
# stderr is shown in errors; keep it bounded.
_MAX_STDERR = 4000


class TokenHelperError(RuntimeError):
    """`redshift-idc-token` could not produce a token.

    Attributes: ``returncode`` (None if the process did not finish) and ``stderr`` (the
    executable's error output, which explains the failure, e.g. expired SSO credentials).
    """

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = ""):
        stderr = stderr.strip()
        if len(stderr) > _MAX_STDERR:
            stderr = stderr[:_MAX_STDERR] + " [...]"
        full = message if not stderr else f"{message}:\n{stderr}"
        super().__init__(full)
        self.returncode = returncode
        self.stderr = stderr


def _command(
    executable: str,
    host: str | None,
    cluster_id: str | None,
    workgroup: str | None,
    region: str | None,
    profile: str | None,
    extra_args: Sequence[str],
) -> list[str]:
    if cluster_id and workgroup:
        raise ValueError("pass either cluster_id (provisioned) or workgroup (serverless), not both")
    if isinstance(extra_args, (str, bytes)):
        raise TypeError("extra_args must be a sequence of arguments, not a single string")
    cmd = [executable, "--format", "python"]
    for flag, value in (
        ("--host", host),
        ("--cluster-id", cluster_id),
        ("--workgroup", workgroup),
        ("--region", region),
        ("--profile", profile),
    ):
        if value:
            cmd += [flag, str(value)]
    cmd += [str(a) for a in extra_args]
    return cmd


def get_token_kwargs(
    *,
    host: str | None = None,
    cluster_id: str | None = None,
    workgroup: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    executable: str = "redshift-idc-token",
    extra_args: Sequence[str] = (),
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Runs `redshift-idc-token --format python` and returns the driver keyword arguments.

    The target is a Redshift endpoint ``host`` (cluster and region are derived from it), or an
    explicit ``cluster_id`` / ``workgroup`` with ``region``. ``profile`` selects the AWS
    profile; ``extra_args`` are appended verbatim (e.g. ``["--no-cache"]``); ``env`` replaces
    the child's environment (default: inherit this process's).

    Returns ``{"credentials_provider": "IdpTokenAuthPlugin", "token": ..., "token_type": ...}``.
    Raises ``TokenHelperError`` (with the executable's stderr) if it cannot be run, fails,
    times out, or prints something that is not the expected JSON object.
    """
    cmd = _command(executable, host, cluster_id, workgroup, region, profile, extra_args)
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise TokenHelperError(
            f"cannot run {executable!r}: not found (install redshift-idc-token or pass executable=...)"
        ) from exc
    except PermissionError as exc:
        raise TokenHelperError(f"cannot run {executable!r}: permission denied") from exc
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode("utf-8", "replace")
        raise TokenHelperError(
            f"{executable} did not finish within {timeout} seconds", stderr=stderr
        ) from None

    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise TokenHelperError(
            f"{executable} failed with exit code {proc.returncode}",
            returncode=proc.returncode,
            stderr=stderr,
        )
    try:
        doc = json.loads(proc.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        # Never echo stdout: it may hold a token.
        raise TokenHelperError(
            f"{executable} printed output that is not the JSON of --format python",
            returncode=proc.returncode,
            stderr=stderr,
        ) from None
    if not isinstance(doc, dict) or any(
        not isinstance(doc.get(k), str) or not doc.get(k) for k in _REQUIRED_KEYS
    ):
        raise TokenHelperError(
            f"{executable} printed JSON without the keys {', '.join(_REQUIRED_KEYS)}",
            returncode=proc.returncode,
            stderr=stderr,
        )
    return {k: doc[k] for k in _REQUIRED_KEYS}


def connect(
    *,
    host: str,
    database: str,
    port: int = 5439,
    cluster_id: str | None = None,
    workgroup: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    executable: str = "redshift-idc-token",
    extra_args: Sequence[str] = (),
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    token_host: str | None = None,
    **driver_kwargs: Any,
) -> Any:
    """Fetches a token and returns a `redshift_connector` connection authenticated with it.

    ``host``, ``port``, ``database`` and any other keyword arguments (``sslmode``, ``user``...)
    go to `redshift_connector.connect`; ``ssl`` defaults to True, as the IdC plugin requires.
    The token options are those of `get_token_kwargs`: unless ``cluster_id`` or ``workgroup`` is
    given, the target is derived from ``token_host`` (default: ``host``), which must then be a
    Redshift endpoint name. ``timeout`` bounds the token executable; the driver's own socket
    timeout is passed as ``driver_timeout``.
    """
    import redshift_connector  # imported here so get_token_kwargs works without the driver

    if token_host is None and not (cluster_id or workgroup):
        token_host = host
    kwargs = get_token_kwargs(
        host=token_host,
        cluster_id=cluster_id,
        workgroup=workgroup,
        region=region,
        profile=profile,
        executable=executable,
        extra_args=extra_args,
        timeout=timeout,
        env=env,
    )
    if "driver_timeout" in driver_kwargs:
        driver_kwargs["timeout"] = driver_kwargs.pop("driver_timeout")
    clash = set(kwargs) & set(driver_kwargs)
    if clash:
        raise ValueError(f"these arguments come from redshift-idc-token: {', '.join(sorted(clash))}")
    driver_kwargs.setdefault("ssl", True)
    return redshift_connector.connect(host=host, port=port, database=database, **kwargs, **driver_kwargs)
