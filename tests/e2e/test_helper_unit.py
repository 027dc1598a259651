"""Unit tests of plugin-config/python/redshift_idc_token_helper.py against fake executables.

Why it exists: the helper's value is in how it fails (a clear error that carries the
executable's stderr, never the token) and in the exact command line it builds; a fake
`redshift-idc-token` shell script makes every case cheap and deterministic, with no Rust build.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import HELPER_DIR

FAKE_TOKEN = "fake-token-\u00e9-not-in-argv"


@pytest.fixture
def helper(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(HELPER_DIR))
    import redshift_idc_token_helper

    return redshift_idc_token_helper


def fake_executable(tmp_path: Path, body: str) -> Path:
    """A /bin/sh script that records its argv (one per line) in argv.txt and then runs `body`."""
    script = tmp_path / "fake-redshift-idc-token"
    script.write_text(
        "#!/bin/sh\n"
        f"for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{tmp_path}/argv.txt'\n"
        + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def recorded_argv(tmp_path: Path) -> list[str]:
    return (tmp_path / "argv.txt").read_text().splitlines()


GOOD_OUTPUT = json.dumps({"credentials_provider": "IdpTokenAuthPlugin", "token": FAKE_TOKEN,
                          "token_type": "SUBJECT_TOKEN"})


def test_returns_driver_kwargs_and_builds_the_command(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, f"cat <<'EOF'\n{GOOD_OUTPUT}\nEOF")
    kwargs = helper.get_token_kwargs(cluster_id="mycluster", region="eu-west-1", profile="dev",
                                     executable=str(exe), extra_args=["--no-cache"])
    assert kwargs == {"credentials_provider": "IdpTokenAuthPlugin", "token": FAKE_TOKEN,
                      "token_type": "SUBJECT_TOKEN"}
    argv = recorded_argv(tmp_path)
    assert argv == ["--format", "python", "--cluster-id", "mycluster", "--region", "eu-west-1",
                    "--profile", "dev", "--no-cache"]
    assert FAKE_TOKEN not in argv


def test_host_and_workgroup_are_passed(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, f"echo '{GOOD_OUTPUT}'")
    helper.get_token_kwargs(host="wg.123456789012.us-east-1.redshift-serverless.amazonaws.com",
                            executable=str(exe))
    assert recorded_argv(tmp_path) == [
        "--format", "python", "--host", "wg.123456789012.us-east-1.redshift-serverless.amazonaws.com"]
    helper.get_token_kwargs(workgroup="wg", region="us-east-1", executable=str(exe))
    assert recorded_argv(tmp_path) == ["--format", "python", "--workgroup", "wg", "--region", "us-east-1"]


def test_extra_output_keys_are_dropped(helper, tmp_path: Path) -> None:
    doc = dict(json.loads(GOOD_OUTPUT), future_key="x")
    exe = fake_executable(tmp_path, f"echo '{json.dumps(doc)}'")
    assert set(helper.get_token_kwargs(cluster_id="c", executable=str(exe))) == {
        "credentials_provider", "token", "token_type"}


def test_nonzero_exit_raises_with_stderr(helper, tmp_path: Path) -> None:
    exe = fake_executable(
        tmp_path, "echo 'error: the SSO session has expired; run aws sso login --profile dev' >&2; exit 3")
    with pytest.raises(helper.TokenHelperError) as excinfo:
        helper.get_token_kwargs(cluster_id="mycluster", region="us-east-1", executable=str(exe))
    err = excinfo.value
    assert err.returncode == 3
    assert err.stderr == "error: the SSO session has expired; run aws sso login --profile dev"
    assert "exit code 3" in str(err)
    assert "aws sso login" in str(err)


def test_very_long_stderr_is_truncated(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "head -c 100000 /dev/zero | tr '\\0' x >&2; exit 1")
    with pytest.raises(helper.TokenHelperError) as excinfo:
        helper.get_token_kwargs(cluster_id="c", executable=str(exe))
    assert len(str(excinfo.value)) < 5000


def test_non_json_output_raises_without_echoing_stdout(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, f"echo '{FAKE_TOKEN}'")
    with pytest.raises(helper.TokenHelperError) as excinfo:
        helper.get_token_kwargs(cluster_id="c", executable=str(exe))
    assert "not the JSON of --format python" in str(excinfo.value)
    assert FAKE_TOKEN not in str(excinfo.value)


@pytest.mark.parametrize("doc", [
    [],
    {"credentials_provider": "IdpTokenAuthPlugin", "token_type": "SUBJECT_TOKEN"},
    {"credentials_provider": "IdpTokenAuthPlugin", "token": "", "token_type": "SUBJECT_TOKEN"},
    {"credentials_provider": "IdpTokenAuthPlugin", "token": 5, "token_type": "SUBJECT_TOKEN"},
])
def test_json_without_the_keys_raises(helper, tmp_path: Path, doc) -> None:
    exe = fake_executable(tmp_path, f"echo '{json.dumps(doc)}'")
    with pytest.raises(helper.TokenHelperError, match="without the keys"):
        helper.get_token_kwargs(cluster_id="c", executable=str(exe))


def test_missing_executable_raises(helper, tmp_path: Path) -> None:
    with pytest.raises(helper.TokenHelperError, match="not found"):
        helper.get_token_kwargs(cluster_id="c", executable=str(tmp_path / "nope"))


def test_not_executable_raises(helper, tmp_path: Path) -> None:
    exe = tmp_path / "not-executable"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o644)  # no x bit at all: even root gets EACCES
    with pytest.raises(helper.TokenHelperError, match="permission denied"):
        helper.get_token_kwargs(cluster_id="c", executable=str(exe))


def test_timeout_raises(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "echo 'waiting for the browser sign-in' >&2; exec sleep 30")
    with pytest.raises(helper.TokenHelperError) as excinfo:
        helper.get_token_kwargs(cluster_id="c", executable=str(exe), timeout=1)
    assert "did not finish within 1 seconds" in str(excinfo.value)
    assert "waiting for the browser sign-in" in str(excinfo.value)


def test_env_replaces_the_environment(helper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = fake_executable(
        tmp_path, f"[ \"$RIT_MARK\" = yes ] && [ -z \"$NOT_INHERITED\" ] && echo '{GOOD_OUTPUT}'")
    monkeypatch.setenv("NOT_INHERITED", "set")
    kwargs = helper.get_token_kwargs(cluster_id="c", executable=str(exe),
                                     env={"RIT_MARK": "yes", "PATH": os.environ["PATH"]})
    assert kwargs["token"] == FAKE_TOKEN


def test_argument_errors(helper) -> None:
    with pytest.raises(ValueError, match="not both"):
        helper.get_token_kwargs(cluster_id="c", workgroup="w")
    with pytest.raises(TypeError, match="sequence"):
        helper.get_token_kwargs(cluster_id="c", extra_args="--no-cache")


def test_connect_refuses_token_arguments_from_the_caller(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, f"echo '{GOOD_OUTPUT}'")
    with pytest.raises(ValueError, match="token"):
        helper.connect(host="localhost", database="dev", cluster_id="c", executable=str(exe),
                       token="mine")


def test_connect_failure_is_the_helper_error(helper, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "echo 'error: no AWS credentials found' >&2; exit 2")
    with pytest.raises(helper.TokenHelperError, match="no AWS credentials found"):
        helper.connect(host="mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com", database="dev",
                       executable=str(exe))
    assert recorded_argv(tmp_path) == [
        "--format", "python", "--host", "mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com"]


# -- the dbt bridge (plugin-config/python/redshift_idc_dbt.py) ----------------------------------

@pytest.fixture
def dbt_bridge(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(HELPER_DIR))
    import redshift_idc_dbt

    return redshift_idc_dbt


def test_dbt_bridge_rewrites_the_database_method_kwargs(dbt_bridge) -> None:
    dbt_kwargs = {"host": "h", "port": 5439, "database": "dev", "user": "", "password": "placeholder",
                  "ssl": True, "sslmode": "verify-full", "timeout": 30, "db_groups": []}
    out = dbt_bridge.idc_connect_kwargs(dbt_kwargs, {"REDSHIFT_IDC_TOKEN": FAKE_TOKEN,
                                                     "REDSHIFT_IDC_TOKEN_TYPE": "SUBJECT_TOKEN"})
    assert out == {"host": "h", "port": 5439, "database": "dev", "ssl": True, "sslmode": "verify-full",
                   "timeout": 30, "db_groups": [], "credentials_provider": "IdpTokenAuthPlugin",
                   "token": FAKE_TOKEN, "token_type": "SUBJECT_TOKEN"}


def test_dbt_bridge_without_token_fails_fast(dbt_bridge) -> None:
    with pytest.raises(dbt_bridge.MissingTokenError, match="REDSHIFT_IDC_TOKEN is not set"):
        dbt_bridge.idc_connect_kwargs({"user": "", "password": "placeholder"}, {})


def test_dbt_bridge_wraps_connect_once(dbt_bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    calls = []
    module = types.SimpleNamespace(connect=lambda **kw: calls.append(kw) or "conn")
    first = dbt_bridge.install(module)
    assert dbt_bridge.install(module) is first
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN", FAKE_TOKEN)
    monkeypatch.delenv("REDSHIFT_IDC_TOKEN_TYPE", raising=False)
    assert module.connect(host="h", user="", password="p") == "conn"
    assert calls == [{"host": "h", "credentials_provider": "IdpTokenAuthPlugin", "token": FAKE_TOKEN,
                      "token_type": "SUBJECT_TOKEN", "ssl": True}]
