"""Runs `redshift-idc-token` once and reads the token it prints.

Why it exists: this is the one place that starts the executable, so every rule about doing so
holds everywhere: argv and never a shell (a target name cannot become a command), stdin closed
(the executable never reads it), a deadline after which the child and everything it started
are killed, stdout read as the versioned JSON document and never echoed (it holds the token),
and on failure the executable's own one-line explanation from stderr. The executable does the
real work (AWS credential chain, shared disk cache, locking), so a cache hit costs a process
start, about 2 ms.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from ._errors import TokenError
from ._executable import EXECUTABLE_NAME, find_executable

__all__ = ["DEFAULT_TIMEOUT", "IssuedToken", "get_token", "token_argv"]

_logger = logging.getLogger("redshift_idc_token")

#: Seconds the executable may take when the caller gives no timeout. The executable bounds its
#: own AWS calls at 30 s; this covers a lock wait or an interactive sign-in on top.
DEFAULT_TIMEOUT = 120.0
# Longest stderr line quoted in an error; the executable's own lines are far shorter.
_MAX_MESSAGE = 500
# Seconds the pipes are still read after the executable exited (what it wrote is in them
# already; only a helper it left behind can keep them open longer). The JDBC wrapper's too.
_EXIT_GRACE = 0.5
# Seconds between looks at whether the executable has exited, while its pipes are quiet.
_POLL = 0.05


@dataclass(frozen=True)
class IssuedToken:
    """A token from the executable. Its repr never shows the token."""

    token: str = field(repr=False)
    token_type: str
    expiration: Optional[str]
    source: Optional[str]


def token_argv(executable: str, *, host: Optional[str] = None, cluster_id: Optional[str] = None,
               workgroup: Optional[str] = None, region: Optional[str] = None,
               profile: Optional[str] = None, endpoint_url: Optional[str] = None,
               extra_args: Sequence[str] = ()) -> list[str]:
    """The command line for one token; ``--flag=value`` so no value can pass for a flag."""
    if isinstance(extra_args, (str, bytes)):
        raise TypeError("extra_args must be a sequence of arguments, not a single string")
    argv = [executable, "--format=json"]
    for flag, value in (("--host", host), ("--cluster-id", cluster_id), ("--workgroup", workgroup),
                        ("--region", region), ("--profile", profile),
                        ("--endpoint-url", endpoint_url)):
        if value:
            argv.append(f"{flag}={value}")
    argv.extend(str(a) for a in extra_args)
    return argv


def get_token(*, host: Optional[str] = None, cluster_id: Optional[str] = None,
              workgroup: Optional[str] = None, region: Optional[str] = None,
              profile: Optional[str] = None, endpoint_url: Optional[str] = None,
              executable: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
              extra_args: Sequence[str] = (),
              env: Optional[Mapping[str, str]] = None) -> IssuedToken:
    """Runs the executable for one target and returns its token.

    The target is a Redshift endpoint ``host`` (cluster or workgroup and region derived from
    it), or ``cluster_id`` / ``workgroup`` with ``region``; ``profile`` and ``endpoint_url`` are
    the AWS profile and API endpoint. ``env`` replaces the child's environment (default: this
    process's). Raises `TokenError` with the executable's one-line message.
    """
    exe = find_executable(executable, env)
    argv = token_argv(exe, host=host, cluster_id=cluster_id, workgroup=workgroup, region=region,
                      profile=profile, endpoint_url=endpoint_url, extra_args=extra_args)
    stdout, stderr, status = _run(argv, timeout, env)
    if status != 0:
        raise TokenError(_failure_message(status, stderr), exit_status=status)
    for line in _lines(stderr):  # on success stderr carries only warnings (e.g. a read-only cache)
        _logger.warning("%s: %s", EXECUTABLE_NAME, line)
    return _parse(stdout)


def _run(argv: list[str], timeout: float, env: Optional[Mapping[str, str]]) -> tuple[bytes, bytes, int]:
    try:
        # A new session makes the child a process group leader, so a timeout kills whatever
        # it started too (a browser for sign-in, a credential_process).
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=None if env is None else dict(env),
                                start_new_session=True)
    except FileNotFoundError:
        raise TokenError(f"cannot run {argv[0]}: not found") from None
    except PermissionError:
        raise TokenError(f"cannot run {argv[0]}: permission denied") from None
    except OSError as exc:
        raise TokenError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    try:
        stdout, stderr, finished = _collect(proc, timeout)
    except BaseException:
        _kill(proc)  # KeyboardInterrupt or the like: leave no child behind
        raise
    if not finished:
        _kill(proc)
        last = _last_line(stderr)
        said = f"; its last words: {last}" if last else ""
        raise TokenError(f"{EXECUTABLE_NAME} did not finish within {timeout:g} s and was "
                         f"stopped{said}")
    _close(proc)
    return stdout, stderr, proc.returncode


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes, bool]:
    """Reads both pipes until the executable has exited and they are drained; True if it exited
    in time.

    It waits for the process, not for end-of-file: a helper the executable started (a JWT
    command's agent, a credential_process daemon) may hold the pipes open for ever, so once the
    executable is gone the pipes get `_EXIT_GRACE` more seconds and are then let go, as the
    JDBC wrapper does.
    """
    if os.name == "nt":  # no select() on pipes: the plain way, which waits for end-of-file
        try:
            out, err = proc.communicate(timeout=timeout)
            return out, err, True
        except subprocess.TimeoutExpired as exc:
            return b"", exc.stderr or b"", False
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
    data = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    exited_at: Optional[float] = None
    with selectors.DefaultSelector() as selector:
        for pipe in data:
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            limit = deadline if exited_at is None else min(deadline, exited_at + _EXIT_GRACE)
            if now >= limit:
                break
            # While the executable runs, look at it every _POLL seconds; after, wait on the pipes.
            wait = limit - now if exited_at is not None else min(limit - now, _POLL)
            for key, _ in selector.select(wait):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    data[key.fileobj].extend(chunk)  # type: ignore[index]
                else:
                    selector.unregister(key.fileobj)
    out, err = (bytes(data[p]) for p in (proc.stdout, proc.stderr))
    if exited_at is None:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return out, err, False
    return out, err, True


def _close(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # Windows: no process groups of this kind
            proc.kill()
    except ProcessLookupError:
        pass
    # Close our ends instead of draining them: a grandchild that escaped the group could keep
    # the pipes open for ever.
    _close(proc)
    proc.wait()


def _lines(data: bytes) -> list[str]:
    return [_printable(line) for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _last_line(data: bytes) -> str:
    lines = _lines(data)
    return lines[-1] if lines else ""


def _printable(line: str) -> str:
    """Escapes control characters (a terminal escape in a message would be obeyed) and bounds it."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in line.strip())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


def _failure_message(status: int, stderr: bytes) -> str:
    line = _last_line(stderr)
    if status < 0:
        what = f"was killed by signal {-status}"
    else:
        what = f"failed with exit status {status}"
    return f"{EXECUTABLE_NAME} {what}: {line}" if line else f"{EXECUTABLE_NAME} {what} and said nothing"


def _parse(stdout: bytes) -> IssuedToken:
    # Never quote stdout in an error: whatever it is, it may hold a token.
    try:
        doc = json.loads(stdout.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError
        raise TokenError(f"{EXECUTABLE_NAME} printed something that is not its JSON document") from None
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise TokenError(f"{EXECUTABLE_NAME} printed a JSON document that is not version 1 of its output")
    token, token_type = doc.get("token"), doc.get("token_type")
    if not isinstance(token, str) or not token or not isinstance(token_type, str) or not token_type:
        raise TokenError(f"{EXECUTABLE_NAME} printed a JSON document without a token and token_type")
    expiration, source = doc.get("expiration"), doc.get("source")
    return IssuedToken(token=token, token_type=token_type,
                       expiration=expiration if isinstance(expiration, str) else None,
                       source=source if isinstance(source, str) else None)
