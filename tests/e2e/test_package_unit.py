"""Unit tests of the redshift_idc_token package (plugin-config/python/src) against fake executables.

Why it exists: the package's value is in how it runs the executable and how it fails (the
executable's one line, never the token, no child left behind past the timeout) and in what it
tells the driver; a fake `redshift-idc-token` shell script makes every case cheap and exact,
with no Rust build. The real executable, the real driver and the installed wheel are proven
together in wheel/test_wheel_e2e.py.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from redshift_connector.error import InterfaceError
from redshift_connector.redshift_property import RedshiftProperty

from conftest import PACKAGE_SRC, wait_until_gone

FAKE_TOKEN = "fake-token-\u00e9-not-in-argv"
GOOD_OUTPUT = json.dumps({"version": 1, "token": FAKE_TOKEN, "token_type": "SUBJECT_TOKEN",
                          "expiration": "2026-12-02T05:00:00Z", "expires_in_seconds": 899,
                          "source": "cache", "service": "redshift", "targets": ["mycluster"]})


@pytest.fixture
def pkg(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    monkeypatch.syspath_prepend(str(PACKAGE_SRC))
    monkeypatch.delenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", raising=False)
    import redshift_idc_token

    return redshift_idc_token


def fake_executable(tmp_path: Path, body: str) -> Path:
    """A /bin/sh script that records its argv (one per line) in argv.txt and then runs `body`."""
    script = tmp_path / "fake-redshift-idc-token"
    script.write_text(
        "#!/bin/sh\n"
        f"for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{tmp_path}/argv.txt'\n"
        + body + "\n")
    script.chmod(0o755)
    return script


def printing(tmp_path: Path, output: str = GOOD_OUTPUT, extra: str = "") -> Path:
    return fake_executable(tmp_path, f"{extra}\ncat <<'EOF'\n{output}\nEOF")


def recorded_argv(tmp_path: Path) -> list[str]:
    return (tmp_path / "argv.txt").read_text().splitlines()


# -- running the executable (_token) -----------------------------------------------------------

def test_returns_the_token_and_builds_the_command(pkg: Any, tmp_path: Path) -> None:
    exe = printing(tmp_path)
    issued = pkg.get_token(cluster_id="mycluster", region="eu-west-1", profile="dev",
                           endpoint_url="http://127.0.0.1:9", executable=str(exe),
                           extra_args=["--no-cache"])
    assert (issued.token, issued.token_type, issued.expiration, issued.source) == (
        FAKE_TOKEN, "SUBJECT_TOKEN", "2026-12-02T05:00:00Z", "cache")
    assert FAKE_TOKEN not in repr(issued)
    assert recorded_argv(tmp_path) == ["--format=json", "--cluster-id=mycluster", "--region=eu-west-1",
                                       "--profile=dev", "--endpoint-url=http://127.0.0.1:9", "--no-cache"]


def test_values_are_attached_to_their_flags(pkg: Any, tmp_path: Path) -> None:
    """`--flag=value`: a value starting with '-' cannot pass for another flag."""
    exe = printing(tmp_path)
    pkg.get_token(workgroup="--no-cache", region="us-east-1", executable=str(exe))
    assert recorded_argv(tmp_path) == ["--format=json", "--workgroup=--no-cache", "--region=us-east-1"]
    pkg.get_token(host="wg.123456789012.us-east-1.redshift-serverless.amazonaws.com", executable=str(exe))
    assert recorded_argv(tmp_path) == [
        "--format=json", "--host=wg.123456789012.us-east-1.redshift-serverless.amazonaws.com"]


def test_failure_is_the_last_line_of_stderr(pkg: Any, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "echo 'warning: cache directory is read-only' >&2\n"
                                    "echo 'error: the SSO session has expired; run aws sso login' >&2\n"
                                    "exit 3")
    with pytest.raises(pkg.TokenError) as excinfo:
        pkg.get_token(cluster_id="c", region="us-east-1", executable=str(exe))
    assert str(excinfo.value) == ("redshift-idc-token failed with exit status 3: "
                                  "error: the SSO session has expired; run aws sso login")
    assert excinfo.value.exit_status == 3


@pytest.mark.parametrize("body,expected", [
    ("exit 5", "redshift-idc-token failed with exit status 5 and said nothing"),
    ("kill -9 $$", "redshift-idc-token was killed by signal 9 and said nothing"),
])
def test_failure_without_words(pkg: Any, tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(pkg.TokenError, match=f"^{expected}$"):
        pkg.get_token(cluster_id="c", executable=str(fake_executable(tmp_path, body)))


def test_messages_are_escaped_and_bounded(pkg: Any, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "printf 'error: bad \\033[31mred\\033[0m\\n' >&2; "
                                    "head -c 5000 /dev/zero | tr '\\0' x >&2; exit 2")
    with pytest.raises(pkg.TokenError) as excinfo:
        pkg.get_token(cluster_id="c", executable=str(exe))
    message = str(excinfo.value)
    assert "\x1b" not in message and len(message) < 600 and message.endswith("x...")
    exe = fake_executable(tmp_path, "printf 'error: bad \\033[31mred\\n' >&2; exit 2")
    with pytest.raises(pkg.TokenError, match=r"error: bad \\x1b\[31mred$"):
        pkg.get_token(cluster_id="c", executable=str(exe))


@pytest.mark.parametrize("output,expected", [
    (FAKE_TOKEN, "printed something that is not its JSON document"),
    (json.dumps({"version": 2, "token": FAKE_TOKEN, "token_type": "SUBJECT_TOKEN"}), "not version 1"),
    (json.dumps([FAKE_TOKEN]), "not version 1"),
    (json.dumps({"version": 1, "token": "", "token_type": "SUBJECT_TOKEN"}), "without a token"),
    (json.dumps({"version": 1, "token": FAKE_TOKEN}), "without a token"),
])
def test_bad_output_is_refused_without_echoing_it(pkg: Any, tmp_path: Path, output: str,
                                                  expected: str) -> None:
    with pytest.raises(pkg.TokenError, match=expected) as excinfo:
        pkg.get_token(cluster_id="c", executable=str(printing(tmp_path, output)))
    assert FAKE_TOKEN not in str(excinfo.value)


def test_missing_and_unrunnable_executables(pkg: Any, tmp_path: Path) -> None:
    with pytest.raises(pkg.TokenError, match="not found$"):
        pkg.get_token(cluster_id="c", executable=str(tmp_path / "nope"))
    exe = tmp_path / "not-executable"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o644)  # no x bit at all: even root gets EACCES
    with pytest.raises(pkg.TokenError, match="permission denied$"):
        pkg.get_token(cluster_id="c", executable=str(exe))


def test_timeout_kills_the_executable_and_its_children(pkg: Any, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    exe = fake_executable(tmp_path, f"sleep 300 & echo $! >> '{pids}'; echo $$ >> '{pids}'\n"
                                    "echo 'waiting for the browser sign-in' >&2; wait")
    started = time.monotonic()
    with pytest.raises(pkg.TokenError) as excinfo:
        pkg.get_token(cluster_id="c", executable=str(exe), timeout=1)
    assert time.monotonic() - started < 6
    assert str(excinfo.value) == ("redshift-idc-token did not finish within 1 s and was stopped; "
                                  "its last words: waiting for the browser sign-in")
    assert excinfo.value.exit_status is None
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2 and wait_until_gone(recorded), "a process outlived the timeout"


def test_warnings_of_a_success_are_logged_without_the_token(
        pkg: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    exe = printing(tmp_path, extra="echo 'warning: cache directory is read-only; not cached' >&2")
    assert pkg.get_token(cluster_id="c", executable=str(exe)).token == FAKE_TOKEN
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "redshift-idc-token: warning: cache directory is read-only; not cached")]


def test_env_replaces_the_environment(pkg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = fake_executable(
        tmp_path, f"[ \"$RIT_MARK\" = yes ] && [ -z \"$NOT_INHERITED\" ] && echo '{GOOD_OUTPUT}'")
    monkeypatch.setenv("NOT_INHERITED", "set")
    issued = pkg.get_token(cluster_id="c", executable=str(exe),
                           env={"RIT_MARK": "yes", "PATH": os.environ["PATH"]})
    assert issued.token == FAKE_TOKEN


def test_extra_args_must_be_a_sequence(pkg: Any) -> None:
    with pytest.raises(TypeError, match="sequence"):
        pkg.get_token(cluster_id="c", executable="/bin/true", extra_args="--no-cache")


# -- finding the executable (_executable) ------------------------------------------------------

def test_find_executable_order(pkg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from redshift_idc_token import _executable

    scripts, user, on_path = (tmp_path / d for d in ("scripts", "user", "path"))
    for d in (scripts, user, on_path):
        d.mkdir()
        (d / "redshift-idc-token").write_text("#!/bin/sh\n")
        (d / "redshift-idc-token").chmod(0o755)
    monkeypatch.setattr(_executable, "installed_locations",
                        lambda: [str(scripts / "redshift-idc-token"), str(user / "redshift-idc-token")])
    env = {"PATH": str(on_path), "REDSHIFT_IDC_TOKEN_EXECUTABLE": "/from/env"}
    assert pkg.find_executable("/explicit", env) == "/explicit"
    assert pkg.find_executable(None, env) == "/from/env"
    del env["REDSHIFT_IDC_TOKEN_EXECUTABLE"]
    assert pkg.find_executable(None, env) == str(scripts / "redshift-idc-token")
    (scripts / "redshift-idc-token").unlink()
    assert pkg.find_executable(None, env) == str(user / "redshift-idc-token")
    (user / "redshift-idc-token").unlink()
    assert pkg.find_executable(None, env) == str(on_path / "redshift-idc-token")
    (on_path / "redshift-idc-token").unlink()
    with pytest.raises(pkg.TokenError) as excinfo:
        pkg.find_executable(None, env)
    assert str(excinfo.value) == (
        f"redshift-idc-token not found: looked in {scripts}/redshift-idc-token, "
        f"{user}/redshift-idc-token and PATH; install it (pip install redshift-idc-token) or set "
        "REDSHIFT_IDC_TOKEN_EXECUTABLE to its path")


def test_installed_locations_are_this_interpreters_scripts_then_the_user_scheme(pkg: Any) -> None:
    import sysconfig

    from redshift_idc_token import _executable

    first, second = _executable.installed_locations()
    assert first == os.path.join(sysconfig.get_path("scripts"), "redshift-idc-token")
    assert second == os.path.join(sysconfig.get_path("scripts", scheme=sysconfig.get_preferred_scheme("user")),
                                  "redshift-idc-token")


def test_the_module_works_without_the_driver(tmp_path: Path) -> None:
    """Only the provider needs redshift_connector; importing the package must not."""
    code = ("import sys; sys.modules['redshift_connector'] = None\n"
            f"sys.path.insert(0, {str(PACKAGE_SRC)!r})\n"
            "import redshift_idc_token as r\n"
            "print(r.get_token.__name__, r.find_executable.__name__)\n"
            "try:\n    r.IdpTokenAuthPlugin\nexcept ImportError:\n    print('provider needs the driver')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["get_token find_executable", "provider needs the driver"]


# -- the credentials provider (provider) -------------------------------------------------------

def props(**kwargs: Any) -> RedshiftProperty:
    info = RedshiftProperty()
    info.put("host", "localhost")
    for key, value in kwargs.items():
        info.put(key, value)
    return info


def plugin(pkg: Any, info: RedshiftProperty) -> Any:
    p = pkg.IdpTokenAuthPlugin()
    p.add_parameter(info)
    return p


@pytest.mark.parametrize("given,expected", [
    ({"host": "mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com"},
     {"host": "mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com"}),
    ({"cluster_identifier": "mycluster", "region": "eu-west-1", "profile": "dev"},
     {"cluster_id": "mycluster", "region": "eu-west-1", "profile": "dev"}),
    ({"serverless_work_group": "wg", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"},
     {"workgroup": "wg", "region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}),
])
def test_target_from_connect_arguments(pkg: Any, given: dict[str, str], expected: dict[str, str]) -> None:
    from redshift_idc_token.provider import target_arguments

    out = {k: v for k, v in target_arguments(props(**given)).items() if v is not None}
    assert out == expected


def test_provider_hands_over_the_token_and_sets_token_type(pkg: Any, tmp_path: Path) -> None:
    """`login_url` names the executable; the driver reads token_type from its property object."""
    info = props(cluster_identifier="mycluster", region="us-east-1", login_url=str(printing(tmp_path)))
    assert info.token_type is None
    p = plugin(pkg, info)
    assert p.get_auth_token() == FAKE_TOKEN
    assert info.token_type == "SUBJECT_TOKEN"
    assert recorded_argv(tmp_path) == ["--format=json", "--cluster-id=mycluster", "--region=us-east-1"]


def test_provider_uses_the_environment_variable(pkg: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(printing(tmp_path)))
    assert plugin(pkg, props(cluster_identifier="c")).get_auth_token() == FAKE_TOKEN


def test_provider_timeout_is_idp_response_timeout(pkg: Any, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "exec sleep 30")
    p = plugin(pkg, props(cluster_identifier="c", login_url=str(exe), idp_response_timeout=1))
    with pytest.raises(InterfaceError, match="^redshift-idc-token did not finish within 1 s and was stopped$"):
        p.get_auth_token()


def test_provider_failure_is_the_drivers_interface_error(pkg: Any, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "echo \"error: invalid value 'x' for '--host <HOST>'\" >&2; exit 2")
    with pytest.raises(InterfaceError) as excinfo:
        plugin(pkg, props(login_url=str(exe))).get_auth_token()
    assert str(excinfo.value) == (
        "redshift-idc-token failed with exit status 2: error: invalid value 'x' for '--host <HOST>' "
        "[connect arguments: host=, or cluster_identifier= or serverless_work_group= with region=]")
    assert isinstance(excinfo.value.__cause__, pkg.TokenError)


@pytest.mark.parametrize("given,expected", [
    ({"ssl": False}, "^Authentication must use an SSL connection: "),
    ({"iam": True}, "cannot be used with iam=True"),
    ({"token": "mine"}, "do not pass token "),
    ({"access_key_id": "AKID", "secret_access_key": "s"}, "do not pass access_key_id, secret_access_key "),
    ({"host": ""}, "needs host=, cluster_identifier= or serverless_work_group="),
    ({"is_serverless": True, "host": "db.example.com"}, "pass serverless_work_group="),
])
def test_provider_refuses_before_running_anything(pkg: Any, tmp_path: Path, given: dict[str, Any],
                                                  expected: str) -> None:
    p = plugin(pkg, props(login_url=str(printing(tmp_path)), **given))
    with pytest.raises(InterfaceError, match=expected):
        p.get_auth_token()
    assert not (tmp_path / "argv.txt").exists(), "the executable must not have been run"


def test_the_drivers_refresh_path_never_logs_the_token(pkg: Any, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The driver calls get_credentials(); the base class's refresh() would log the token."""
    caplog.set_level(logging.DEBUG)
    p = plugin(pkg, props(cluster_identifier="c", login_url=str(printing(tmp_path))))
    assert p.get_credentials().access_token == FAKE_TOKEN
    assert p.get_idp_token() == FAKE_TOKEN
    assert caplog.records and FAKE_TOKEN not in caplog.text


# -- the dbt launcher (dbt) --------------------------------------------------------------------

def test_dbt_rewrites_the_database_method_kwargs(pkg: Any) -> None:
    from redshift_idc_token import dbt

    dbt_kwargs = {"host": "h", "port": 5439, "database": "dev", "user": "", "password": "placeholder",
                  "ssl": False, "sslmode": "verify-full", "timeout": 30, "db_groups": [],
                  "region": "us-east-1"}
    assert dbt.idc_connect_kwargs(dbt_kwargs) == {
        "host": "h", "port": 5439, "database": "dev", "ssl": True, "sslmode": "verify-full",
        "timeout": 30, "db_groups": [], "region": "us-east-1",
        "credentials_provider": "redshift_idc_token.IdpTokenAuthPlugin"}


def test_dbt_wraps_connect_once(pkg: Any) -> None:
    from redshift_idc_token import dbt

    calls: list[dict[str, Any]] = []
    module = types.SimpleNamespace(connect=lambda **kw: calls.append(kw) or "conn")
    first = dbt.install(module)
    assert dbt.install(module) is first
    assert module.connect(host="h", user="", password="p") == "conn"
    assert calls == [{"host": "h", "credentials_provider": "redshift_idc_token.IdpTokenAuthPlugin",
                      "ssl": True}]
