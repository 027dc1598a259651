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

    installed, on_path = tmp_path / "installed", tmp_path / "path"
    for d in (installed, on_path):
        d.mkdir()
        (d / "redshift-idc-token").write_text("#!/bin/sh\n")
        (d / "redshift-idc-token").chmod(0o755)
    monkeypatch.setattr(_executable, "installed_locations", lambda: [str(installed / "redshift-idc-token")])
    env = {"PATH": str(on_path), "REDSHIFT_IDC_TOKEN_EXECUTABLE": "/from/env"}
    assert pkg.find_executable("/explicit", env) == "/explicit"
    assert pkg.find_executable(None, env) == "/from/env"
    del env["REDSHIFT_IDC_TOKEN_EXECUTABLE"]
    assert pkg.find_executable(None, env) == str(installed / "redshift-idc-token")
    (installed / "redshift-idc-token").unlink()
    with pytest.raises(pkg.TokenError) as excinfo:  # never the one on PATH
        pkg.find_executable(None, env)
    assert str(excinfo.value) == (
        f"redshift-idc-token not found next to the redshift_idc_token package: looked in "
        f"{installed}/redshift-idc-token; reinstall the wheel (pip install redshift-idc-token), "
        "or set REDSHIFT_IDC_TOKEN_EXECUTABLE to the executable's path")


def test_installed_locations_for_the_venv_user_and_target_schemes(pkg: Any) -> None:
    import sysconfig

    from redshift_idc_token import _executable

    venv_lib = sysconfig.get_path("purelib")
    assert _executable.installed_locations(venv_lib)[:2] == [
        os.path.join(venv_lib, "bin", "redshift-idc-token"),
        os.path.join(sysconfig.get_path("scripts"), "redshift-idc-token")]
    user = sysconfig.get_preferred_scheme("user")
    user_lib = sysconfig.get_path("purelib", user)
    assert os.path.join(sysconfig.get_path("scripts", user), "redshift-idc-token") in \
        _executable.installed_locations(user_lib)
    assert _executable.installed_locations("/opt/layer") == ["/opt/layer/bin/redshift-idc-token"]


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


def test_provider_hands_over_the_token_and_sets_token_type(pkg: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver reads token_type from its property object."""
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(printing(tmp_path)))
    info = props(cluster_identifier="mycluster", region="us-east-1")
    assert info.token_type is None
    p = plugin(pkg, info)
    assert p.get_auth_token() == FAKE_TOKEN
    assert info.token_type == "SUBJECT_TOKEN"
    assert recorded_argv(tmp_path) == ["--format=json", "--cluster-id=mycluster", "--region=us-east-1"]


def test_provider_uses_the_environment_variable(pkg: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(printing(tmp_path)))
    assert plugin(pkg, props(cluster_identifier="c")).get_auth_token() == FAKE_TOKEN


def test_provider_timeout_is_idp_response_timeout(pkg: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    exe = fake_executable(tmp_path, "exec sleep 30")
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(exe))
    p = plugin(pkg, props(cluster_identifier="c", idp_response_timeout=1))
    with pytest.raises(InterfaceError, match="^redshift-idc-token did not finish within 1 s and was stopped$"):
        p.get_auth_token()


def test_provider_failure_is_the_drivers_interface_error(pkg: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    exe = fake_executable(tmp_path, "echo \"error: invalid value 'x' for '--host <HOST>'\" >&2; exit 2")
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(exe))
    with pytest.raises(InterfaceError) as excinfo:
        plugin(pkg, props()).get_auth_token()
    assert str(excinfo.value) == (
        "redshift-idc-token failed with exit status 2: error: invalid value 'x' for '--host <HOST>' "
        "[connect arguments: host=, or cluster_identifier= or serverless_work_group= with region=]")
    assert isinstance(excinfo.value.__cause__, pkg.TokenError)


@pytest.mark.parametrize("given,expected", [
    ({"ssl": False}, "^Authentication must use an SSL connection: .*ssl=False: "),
    ({"login_url": "/bin/sh"}, "does not take login_url: .* must not choose a program to run"),
    ({"iam": True}, "cannot be used with iam=True"),
    ({"token": "mine"}, "do not pass token "),
    ({"access_key_id": "AKID", "secret_access_key": "s"}, "do not pass access_key_id, secret_access_key "),
    ({"host": ""}, "needs host=, cluster_identifier= or serverless_work_group="),
    ({"is_serverless": True, "host": "db.example.com"}, "pass serverless_work_group="),
])
def test_provider_refuses_before_running_anything(pkg: Any, tmp_path: Path, given: dict[str, Any],
                                                  expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(printing(tmp_path)))
    p = plugin(pkg, props(**given))
    with pytest.raises(InterfaceError, match=expected):
        p.get_auth_token()
    assert not (tmp_path / "argv.txt").exists(), "the executable must not have been run"


def test_the_drivers_refresh_path_never_logs_the_token(pkg: Any, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver calls get_credentials(); the base class's refresh() would log the token."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(printing(tmp_path)))
    p = plugin(pkg, props(cluster_identifier="c"))
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


# -- exit statuses (plugin-config/exit-codes.json) -------------------------------------------------

EXIT_CODES = json.loads((PACKAGE_SRC.parents[1] / "exit-codes.json").read_text())["exit_codes"]


def test_every_exit_code_of_the_table_has_a_name_and_a_deliberate_hint(pkg: Any) -> None:
    """The one table is plugin-config/exit-codes.json: a code added there without a mapping here
    (or a name changed) fails this test."""
    from redshift_idc_token.provider import FAILURE_HINTS

    assert dict(pkg.EXIT_STATUS_NAMES) == {c["code"]: c["name"] for c in EXIT_CODES}
    failures = {c["name"] for c in EXIT_CODES if c["code"] != 0}
    assert set(FAILURE_HINTS) == failures, "each failure kind needs a deliberate entry (\"\" for none)"


@pytest.mark.parametrize("code", [c for c in EXIT_CODES if c["code"] != 0], ids=lambda c: c["name"])
def test_each_exit_status_reaches_the_driver_with_its_kind(pkg: Any, tmp_path: Path, code: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    exe = fake_executable(tmp_path, f"echo 'error: the reason ({code['name']})' >&2; exit {code['code']}")
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(exe))
    with pytest.raises(InterfaceError) as excinfo:
        plugin(pkg, props(cluster_identifier="c")).get_auth_token()
    cause = excinfo.value.__cause__
    assert isinstance(cause, pkg.TokenError)
    assert (cause.exit_status, cause.kind) == (code["code"], code["name"])
    assert str(excinfo.value).startswith(
        f"redshift-idc-token failed with exit status {code['code']}: error: the reason ({code['name']})")
    if code["name"] == "sign_in":
        assert "redshift-idc-token login" in str(excinfo.value)
    if code["name"] == "internal":
        assert str(excinfo.value).endswith(f"({code['name']})"), "no hint for a bug"


# -- the executable's pipes -----------------------------------------------------------------------

@pytest.mark.parametrize("held", ["stderr", "stdout and stderr"])
def test_a_helper_that_keeps_the_pipes_open_does_not_stall_the_token(pkg: Any, tmp_path: Path,
                                                                     held: str) -> None:
    """A JWT command's agent started by the executable may keep its stderr (or both) open: the
    token printed before the executable exited is taken after a short grace, not at the timeout."""
    pidfile = tmp_path / "helper.pid"
    redirect = "" if held == "stdout and stderr" else ">/dev/null"
    exe = printing(tmp_path, extra=f"sleep 60 {redirect} & echo $! > '{pidfile}'")
    started = time.monotonic()
    try:
        issued = pkg.get_token(cluster_id="c", executable=str(exe), timeout=20)
        elapsed = time.monotonic() - started
    finally:
        helper = int(pidfile.read_text())
        os.kill(helper, 9)
    assert issued.token == FAKE_TOKEN
    assert elapsed < 3, f"took {elapsed:.1f} s"


def test_output_written_just_before_exit_is_all_read(pkg: Any, tmp_path: Path) -> None:
    """No truncation: a large error line written right before exiting arrives whole."""
    exe = fake_executable(tmp_path, "head -c 100000 /dev/zero | tr '\\0' a; "
                                    "printf 'error: %s\\n' \"$(head -c 300 /dev/zero | tr '\\0' b)\" >&2; exit 3")
    with pytest.raises(pkg.TokenError) as excinfo:
        pkg.get_token(cluster_id="c", executable=str(exe))
    assert str(excinfo.value).endswith("b" * 300)


# -- where the executable is found, for every install scheme -----------------------------------------

def layout(root: Path, package_dir: Path, bin_dir: Path, name: str) -> Path:
    """A copy of the package at package_dir and an executable that prints `name` at bin_dir."""
    import shutil as _shutil

    _shutil.copytree(PACKAGE_SRC / "redshift_idc_token", package_dir / "redshift_idc_token")
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "redshift-idc-token"
    exe.write_text(f"#!/bin/sh\necho {name}\n")
    exe.chmod(0o755)
    return exe


def found_by(package_dir: Path, path_dir: Path) -> subprocess.CompletedProcess[str]:
    code = ("import redshift_idc_token as r\n"
            "try:\n    print(r.find_executable())\n"
            "except r.TokenError as e:\n    print('TokenError:', e)\n")
    env = {k: v for k, v in os.environ.items() if k != "REDSHIFT_IDC_TOKEN_EXECUTABLE"}
    env.update(PYTHONPATH=str(package_dir), PATH=f"{path_dir}:/usr/bin:/bin")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=30, check=False)


@pytest.mark.parametrize("scheme", ["target", "prefix"])
def test_the_executable_next_to_the_package_wins_over_path(tmp_path: Path, scheme: str) -> None:
    """`pip install --target DIR` puts the executable in DIR/bin; `--prefix P` in P/bin with the
    package in P/lib/pythonX.Y/site-packages. Another redshift-idc-token on PATH is not it."""
    layout(tmp_path, tmp_path / "path", tmp_path / "path", "the-one-on-path")
    if scheme == "target":
        pkgdir, bindir = tmp_path / "layer", tmp_path / "layer" / "bin"
    else:
        pkgdir = tmp_path / "prefix" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        bindir = tmp_path / "prefix" / "bin"
    exe = layout(tmp_path, pkgdir, bindir, "the-installed-one")
    proc = found_by(pkgdir, tmp_path / "path")
    assert proc.stdout.strip() == str(exe), proc.stderr


def test_a_missing_installed_executable_is_an_error_not_another_program(tmp_path: Path) -> None:
    layout(tmp_path, tmp_path / "path", tmp_path / "path", "the-one-on-path")
    pkgdir = tmp_path / "layer"
    layout(tmp_path, pkgdir, pkgdir / "bin", "x")
    (pkgdir / "bin" / "redshift-idc-token").unlink()
    proc = found_by(pkgdir, tmp_path / "path")
    out = proc.stdout.strip()
    assert out.startswith("TokenError: redshift-idc-token not found next to the redshift_idc_token package"), out
    assert str(pkgdir / "bin" / "redshift-idc-token") in out
    assert "REDSHIFT_IDC_TOKEN_EXECUTABLE" in out
