"""End to end through the installed wheel: the real driver runs the executable the wheel installed.

Why it exists: it proves what a user gets from ``pip install <wheel>`` and nothing else. The
suite runs in a fresh virtualenv holding only the wheel and the pinned drivers
(plugin-config/python/requirements-test.txt), with PATH reduced to that venv and the system:
there is no other `redshift-idc-token` to find (scripts/test builds the venv and runs it;
``pytest tests/e2e`` does not recurse into this folder). The chain under test is

    redshift_connector.connect(credentials_provider="redshift_idc_token.IdpTokenAuthPlugin")
        ->  the wheel's redshift-idc-token (AWS stand-in, shared disk cache)
        ->  TLS with verify-full  ->  the Redshift wire stand-in: request 14, the 'i' token

and also SQLAlchemy (sqlalchemy-redshift) and pandas.read_sql on top, and the ways it fails.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import pytest
import redshift_connector
import sqlalchemy as sa

import redshift_idc_token
from conftest import (ACCESS_KEY_ID, CLUSTER_ID, PROCESS_TIMEOUT, REGION, REPO_ROOT, AwsStandin,
                      WireServer, wait_until_gone)

PROVIDER = "redshift_idc_token.IdpTokenAuthPlugin"
DRIVER_TIMEOUT = 15
WHEEL_EXE = Path(sysconfig.get_path("scripts")) / "redshift-idc-token"


@pytest.fixture
def provider_env(rit_env: dict[str, str], trust_test_ca: Path,
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment becomes the isolated one (fixed AWS keys, private HOME and
    cache): the provider's child inherits it, as it would in an application."""
    for key in list(os.environ):
        if key.startswith("AWS_") or key in ("REDSHIFT_IDC_TOKEN_EXECUTABLE",
                                             "REDSHIFT_CONNECTOR_PLUGIN_ALLOWLIST"):
            monkeypatch.delenv(key)
    for key, value in rit_env.items():
        if not key.startswith("SSL_CERT_"):  # trust_test_ca's settings stay
            monkeypatch.setenv(key, value)
    return rit_env


def idc_args(standin: AwsStandin, **extra: Any) -> dict[str, Any]:
    """Connect arguments for the provider; the wire stand-in is "localhost", which is no Redshift
    endpoint name, so the cluster and region are given explicitly."""
    return dict(credentials_provider=PROVIDER, cluster_identifier=CLUSTER_ID, region=REGION,
                endpoint_url=standin.url, sslmode="verify-full", **extra)


def connect(server: WireServer, standin: AwsStandin, **extra: Any) -> redshift_connector.Connection:
    return redshift_connector.connect(host="localhost", port=server.port, database="dev",
                                      timeout=DRIVER_TIMEOUT, **idc_args(standin, **extra))


def select_one(conn: redshift_connector.Connection) -> int:
    cur = conn.cursor()
    cur.execute("select 1")
    (row,) = cur.fetchall()
    return int(row[0])


def assert_signed_in(conn: dict[str, Any], token: str) -> None:
    assert conn["outcome"] == "ok", conn["error"]
    assert conn["token"] == token, "the server did not receive exactly the token AWS issued"
    assert conn["token_type"] == "SUBJECT_TOKEN"
    assert conn["idp_type"] == "AwsIdc"
    assert conn["plugin_name"] == PROVIDER
    assert conn["tls"] is not None


def the_one_request(standin: AwsStandin) -> str:
    (req,) = standin.requests()
    assert (req["service"], req["targets"], req["region"]) == ("redshift", [CLUSTER_ID], REGION)
    assert req["access_key_id"] == ACCESS_KEY_ID and req["problems"] == []
    return str(req["token"])


# -- what the wheel installed ------------------------------------------------------------------

def test_the_executable_and_module_come_from_the_wheel() -> None:
    assert WHEEL_EXE.is_file() and os.access(WHEEL_EXE, os.X_OK)
    assert Path(sys.prefix) != Path(sys.base_prefix), "not running in a virtualenv"
    assert WHEEL_EXE.is_relative_to(sys.prefix)
    # Nothing else could answer to the name: the only copy on PATH is the venv's.
    found = [Path(d) / "redshift-idc-token" for d in os.environ["PATH"].split(os.pathsep) if d]
    assert [p for p in found if p.is_file()] == [WHEEL_EXE]
    assert shutil.which("redshift-idc-token") == str(WHEEL_EXE)
    assert redshift_idc_token.find_executable() == str(WHEEL_EXE)
    # The module is the installed one, not the source tree.
    assert Path(redshift_idc_token.__file__).is_relative_to(sysconfig.get_path("purelib"))
    cargo = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text())["package"]["version"]
    assert importlib.metadata.version("redshift-idc-token") == cargo == redshift_idc_token.__version__


def test_python_m_runs_the_wheels_executable() -> None:
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "redshift_idc_token", "--version"],
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"redshift-idc-token {redshift_idc_token.__version__}"


# -- the driver through the provider -----------------------------------------------------------

def test_redshift_connector_signs_in_with_the_issued_token(
        aws_standin: AwsStandin, start_wire_server: Callable[..., WireServer],
        provider_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Two connections: the first token comes from AWS, the second from the shared cache.

    With the driver's plugin allowlist set, as a locked-down application would, and with
    DEBUG logging on everywhere: the token appears in no log record.
    """
    monkeypatch.setenv("REDSHIFT_CONNECTOR_PLUGIN_ALLOWLIST", PROVIDER)
    caplog.set_level(logging.DEBUG)
    server = start_wire_server(max_connections=2)
    for _ in range(2):
        conn = connect(server, aws_standin)
        try:
            assert select_one(conn) == 1
        finally:
            conn.close()

    issued = the_one_request(aws_standin)  # one AWS call for both connections
    first, second = server.finish()["connections"]
    for seen in (first, second):
        assert_signed_in(seen, issued)
        assert "select 1" in seen["queries"]
    assert issued not in caplog.text


def test_sqlalchemy_and_pandas_sign_in_through_the_provider(
        aws_standin: AwsStandin, start_wire_server: Callable[..., WireServer],
        provider_env: dict[str, str]) -> None:
    server = start_wire_server(max_connections=1)
    engine = sa.create_engine(f"redshift+redshift_connector://localhost:{server.port}/dev",
                              connect_args=idc_args(aws_standin, timeout=DRIVER_TIMEOUT))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
        frame = pd.read_sql(sa.text("select 1 as one"), engine)  # the pooled connection again
        assert frame["one"].tolist() == [1]
    finally:
        engine.dispose()

    (seen,) = server.finish()["connections"]
    assert_signed_in(seen, the_one_request(aws_standin))
    assert {"select 1", "select 1 as one"} <= set(seen["queries"])


def test_dbt_launcher_signs_in_every_connection(
        aws_standin: AwsStandin, start_wire_server: Callable[..., WireServer],
        provider_env: dict[str, str], tmp_path: Path) -> None:
    """`redshift_idc_token.dbt.install()` in a dbt-like process: the connect call dbt-redshift
    makes for the `method: database` profile (placeholder user and password) signs in with the
    provider; the AWS endpoint comes from the environment, as it would for dbt."""
    import subprocess

    server = start_wire_server()
    program = tmp_path / "dbt_like.py"
    program.write_text(textwrap.dedent(f"""
        import redshift_connector
        from redshift_idc_token import dbt
        dbt.install()
        conn = redshift_connector.connect(
            host="localhost", port={server.port}, database="dev", region={REGION!r},
            cluster_identifier={CLUSTER_ID!r}, auto_create=False, db_groups=[],
            timeout={DRIVER_TIMEOUT}, is_serverless=False, ssl=True, sslmode="verify-full",
            tcp_keepalive=True, user="", password="not-used-idc-token-auth")
        cur = conn.cursor()
        cur.execute("select 1")
        print(cur.fetchall()[0][0])
        conn.close()
        """))
    env = dict(os.environ, AWS_ENDPOINT_URL=aws_standin.url)
    proc = subprocess.run([sys.executable, str(program)], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    (seen,) = server.finish()["connections"]
    assert_signed_in(seen, the_one_request(aws_standin))
    assert seen["startup_params"]["user"] == ""  # the placeholder user was not sent


# -- failures: the driver's InterfaceError with the executable's one line ----------------------

def test_bad_target_is_the_executables_one_line(
        aws_standin: AwsStandin, provider_env: dict[str, str]) -> None:
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=1, database="dev",
                                   credentials_provider=PROVIDER, endpoint_url=aws_standin.url)
    message = str(excinfo.value)
    assert message.startswith("redshift-idc-token failed with exit status 2: error: "), message
    assert "'localhost'" in message and "\n" not in message
    assert aws_standin.requests() == []


def test_missing_credentials_are_the_executables_one_line(
        aws_standin: AwsStandin, provider_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=1, database="dev",
                                   **idc_args(aws_standin))
    message = str(excinfo.value)
    assert message.startswith("redshift-idc-token failed with exit status 3: error: "), message
    assert "\n" not in message
    assert aws_standin.requests() == []


def test_ssl_false_is_refused_before_anything_runs(
        aws_standin: AwsStandin, provider_env: dict[str, str]) -> None:
    with pytest.raises(redshift_connector.InterfaceError,
                       match="^Authentication must use an SSL connection: "):
        redshift_connector.connect(host="localhost", port=1, database="dev", ssl=False,
                                   **idc_args(aws_standin))
    assert aws_standin.requests() == []


def test_a_provider_missing_from_the_allowlist_is_not_loaded(
        aws_standin: AwsStandin, provider_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDSHIFT_CONNECTOR_PLUGIN_ALLOWLIST", "redshift_connector.plugin.IdpTokenAuthPlugin")
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=1, database="dev", **idc_args(aws_standin))
    assert "not in the configured plugin allowlist" in str(excinfo.value.__cause__)
    assert aws_standin.requests() == []


@pytest.fixture
def hanging_executable(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A stand-in executable that starts a grandchild and hangs; both record their pids."""
    pids = tmp_path / "pids"
    exe = tmp_path / "hanging-redshift-idc-token"
    exe.write_text("#!/bin/sh\n"
                   f"sleep 300 & echo $! >> '{pids}'\n"
                   f"echo $$ >> '{pids}'\n"
                   "echo 'waiting for the browser sign-in' >&2\n"
                   "wait\n")
    exe.chmod(0o755)
    yield exe, pids
    for pid in pids.read_text().split() if pids.exists() else []:
        try:
            os.kill(int(pid), 9)  # only if the test failed: these are our own children
        except ProcessLookupError:
            pass


def test_a_hanging_executable_is_killed_at_the_timeout(
        aws_standin: AwsStandin, provider_env: dict[str, str],
        hanging_executable: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``REDSHIFT_IDC_TOKEN_EXECUTABLE`` names the executable, ``idp_response_timeout`` bounds it."""
    exe, pids = hanging_executable
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(exe))
    started = time.monotonic()
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=1, database="dev",
                                   **idc_args(aws_standin, idp_response_timeout=2))
    elapsed = time.monotonic() - started
    assert str(excinfo.value) == ("redshift-idc-token did not finish within 2 s and was stopped; "
                                  "its last words: waiting for the browser sign-in")
    assert 2 <= elapsed < 10
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2 and wait_until_gone(recorded), "the executable or its child outlived the timeout"



# -- a SQLAlchemy URL is written by whoever configures the application -------------------------------

HOSTILE = json.loads((REPO_ROOT / "tests" / "e2e" / "hostile_settings.json").read_text())["settings"]
URL_REFUSED = [c for c in HOSTILE if c["python"] == "refused"] + [
    {"query": "ssl=true", "names": "ssl='true' (a str)", "why": "a string: the driver does TLS only for True"}]


@pytest.mark.parametrize("case", URL_REFUSED, ids=[c["query"] for c in URL_REFUSED])
def test_a_sqlalchemy_url_cannot_turn_tls_off_or_choose_a_program(
        case: dict[str, str], aws_standin: AwsStandin, provider_env: dict[str, str],
        tmp_path: Path) -> None:
    program = tmp_path / "url-program"
    program.write_text(f"#!/bin/sh\ntouch '{tmp_path}/ran'\n")
    program.chmod(0o755)
    query = case["query"].replace("PROGRAM", str(program))
    engine = sa.create_engine(
        f"redshift+redshift_connector://localhost:1/dev?{query}",
        connect_args=idc_args(aws_standin, timeout=DRIVER_TIMEOUT))
    try:
        with pytest.raises(Exception) as excinfo:
            engine.connect()
    finally:
        engine.dispose()
    assert case["names"] in str(excinfo.value), str(excinfo.value)
    assert not (tmp_path / "ran").exists(), "the URL's program ran"
    assert aws_standin.requests() == [], "the token executable ran"


# -- pip install --target (Lambda layers, Airflow plugins, zipapps) ---------------------------------

def test_pip_install_target_runs_the_executable_it_installed(
        aws_standin: AwsStandin, provider_env: dict[str, str], tmp_path: Path) -> None:
    """The wheel installed with ``--target DIR`` puts the executable in DIR/bin; the module there
    runs that one, and never another `redshift-idc-token` on PATH."""
    wheel = os.environ.get("RIT_WHEEL")
    assert wheel and Path(wheel).is_file(), "scripts/test-wheel sets RIT_WHEEL to the wheel it built"
    layer = tmp_path / "layer"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-index", "--disable-pip-version-check", "--target", str(layer), wheel],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (layer / "bin" / "redshift-idc-token").is_file()
    decoy_dir = tmp_path / "decoy"
    decoy_dir.mkdir()
    decoy = decoy_dir / "redshift-idc-token"
    decoy.write_text(f"#!/bin/sh\ntouch '{tmp_path}/decoy-ran'\nexit 1\n")
    decoy.chmod(0o755)
    code = ("import redshift_idc_token as r\n"
            "print(r.find_executable())\n"
            f"print(r.get_token(cluster_id={CLUSTER_ID!r}, region={REGION!r}, "
            f"endpoint_url={aws_standin.url!r}).token_type)\n")
    env = dict(provider_env, PYTHONPATH=str(layer), PATH=f"{decoy_dir}:/usr/bin:/bin")
    env.pop("REDSHIFT_IDC_TOKEN_EXECUTABLE", None)
    # The venv's own copy must not be what is found: run an interpreter that does not have it.
    proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(layer)!r})\n" + code],
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    found, token_type = proc.stdout.split()
    assert found == str(layer / "bin" / "redshift-idc-token")
    assert token_type == "SUBJECT_TOKEN"
    assert not (tmp_path / "decoy-ran").exists()
    assert len(aws_standin.requests()) == 1


# -- the [redshift-connector] extra is the range tested ---------------------------------------------

# dbt-redshift 1.11.1's METADATA: "Requires-Dist: redshift-connector<2.2,>=2.1.8".
DBT_REDSHIFT_1_11_NEEDS = "<2.2,>=2.1.8"


def test_the_extra_is_the_tested_range_and_dbt_redshift_can_install_with_it() -> None:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((REPO_ROOT / "plugin-config" / "python" / "pyproject.toml").read_text())
    (extra,) = project["project"]["optional-dependencies"]["redshift-connector"]
    spec = Requirement(extra).specifier
    pins = {}
    for f in ("plugin-config/python/requirements-test.txt", "tests/e2e/requirements.txt"):
        for line in (REPO_ROOT / f).read_text().splitlines():
            if line.startswith("redshift_connector=="):
                pins[f] = line.split("==")[1].split()[0]
    assert len(pins) == 2 and all(v in spec for v in pins.values()), (extra, pins)
    assert importlib.metadata.version("redshift_connector") == pins["plugin-config/python/requirements-test.txt"]
    # Every version the extra admits is one of the two tested ends or between them.
    assert {s.operator for s in spec} == {">=", "<="}, extra
    assert {s.version for s in spec} == set(pins.values()), extra
    dbt_ok = [v for v in pins.values() if v in SpecifierSet(DBT_REDSHIFT_1_11_NEEDS)]
    assert dbt_ok, f"no tested version of the extra ({extra}) installs with dbt-redshift 1.11"
