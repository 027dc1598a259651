"""End to end: the jdbc:redshift-idc:// wrapper driver with the real Amazon Redshift JDBC driver.

Why it exists: the wrapper (plugin-config/jdbc) is only worth something if a tool that opens
`jdbc:redshift-idc://...` through DriverManager gets a verified-TLS Redshift session
authenticated with a token fresh from `redshift-idc-token`, and a clear SQLException when the
executable fails. The chain under test is

    JdbcProbe (DriverManager.getConnection, N threads at once)
        ->  io.github.redshiftidctoken.jdbc.Driver  ->  redshift-idc-token --format=jdbc
        ->  AWS stand-in (GetIdentityCenterAuthToken, counts requests)
        ->  com.amazon.redshift.Driver 2.2.6 (IdpTokenAuthPlugin, sslmode=verify-full,
            a PKCS12 trust store made here with keytool)
        ->  Redshift wire stand-in: startup parameters, the 'i' token message, `select 1`

The Redshift driver comes from REDSHIFT_JDBC_CLASSPATH, else from ../shared/jdbc next to the
repository (see /work/shared/jdbc/README.md); without either the tests FAIL with instructions,
they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_KEY_ID, CLUSTER_ID, REGION, REPO_ROOT, Child, Pki, Rit
from jdbc_support import (JDBC_DIR, DriverNotFound, build_wrapper_jar, make_truststore,
                          redshift_jdbc_classpath)

PROBE_SOURCE = Path(__file__).resolve().parent / "jdbc" / "JdbcProbe.java"
PLUGIN = "com.amazon.redshift.plugin.IdpTokenAuthPlugin"
JVM_TIMEOUT = 120  # seconds for one probe run

# -- the pieces: the Redshift driver, the wrapper jar, the probe, the trust store ------------------

@pytest.fixture(scope="session")
def redshift_classpath() -> str:
    try:
        return redshift_jdbc_classpath()
    except DriverNotFound as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def wrapper_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wrapper_jar(tmp_path_factory.mktemp("jdbc-build"))


@pytest.fixture(scope="session")
def probe_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jdbc-probe")
    proc = subprocess.run(["javac", "-d", str(out), str(PROBE_SOURCE)], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def truststore(pki: Pki) -> Path:
    return make_truststore(pki.ca_cert, pki.dir / "truststore.p12")


class Probe:
    """Runs JdbcProbe in a fresh JVM with the wrapper and the Redshift driver on its class path."""

    def __init__(self, jar: Path, redshift: str, classes: Path, truststore: Path):
        self.classpath = os.pathsep.join([str(jar), redshift, str(classes)])
        self.truststore = truststore

    def tls(self) -> dict[str, str]:
        return {"ssl": "true", "sslmode": "verify-full", "ssltruststorepath": str(self.truststore)}

    def run(self, url: str, props: dict[str, str], env: dict[str, str], *, connections: int = 1,
            login_timeout: int | None = None) -> dict[str, Any]:
        argv = ["java", "-cp", self.classpath, "JdbcProbe", "--connections", str(connections)]
        if login_timeout is not None:
            argv += ["--login-timeout", str(login_timeout)]
        argv += [url, *(f"{k}={v}" for k, v in props.items())]
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=JVM_TIMEOUT)
        assert proc.returncode == 0, f"JdbcProbe exited {proc.returncode}:\n{proc.stderr}"
        doc = json.loads(proc.stdout)
        doc["jvm_stderr"] = proc.stderr
        return doc


@pytest.fixture
def probe(wrapper_jar: Path, redshift_classpath: str, probe_classes: Path, truststore: Path) -> Probe:
    return Probe(wrapper_jar, redshift_classpath, probe_classes, truststore)


def jvm_env(rit: Rit, **extra: str) -> dict[str, str]:
    """The executable's isolated AWS environment, pointed at the stand-in, for the JVM to pass on."""
    env = dict(rit.env, AWS_ENDPOINT_URL=rit.standin.url)
    env.update(extra)
    return env


def url(port: int, query: str = f"ClusterID={CLUSTER_ID}&Region={REGION}") -> str:
    return f"jdbc:redshift-idc://localhost:{port}/dev" + (f"?{query}" if query else "")


def assert_no_leak(doc: dict[str, Any], token: str) -> None:
    """The token is nowhere a tool could show or log it."""
    places = {k: doc[k] for k in ("system_properties", "driver_manager_log", "caller_properties",
                                  "jvm_stderr")}
    for r in doc["results"]:
        for k in ("connection", "metadata_url", "message", "to_string", "trace"):
            if r.get(k):
                places[f"result.{k}"] = r[k]
    for name, text in places.items():
        assert token not in text, f"the token leaked into {name}"


def fake_executable(tmp_path: Path, name: str, script: str) -> Path:
    """A stand-in for redshift-idc-token: a shell script in the test's directory."""
    exe = tmp_path / name
    exe.write_text(script)
    exe.chmod(0o755)
    return exe


def process_alive(pid: int) -> bool:
    """True while `pid` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_running(program: Path) -> list[int]:
    """PIDs of live processes whose argv[0] is `program`."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv0 = (d / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if argv0 == str(program).encode() and process_alive(int(d.name)):
            found.append(int(d.name))
    return found


# -- success -------------------------------------------------------------------------------------

def test_connects_with_the_issued_token_over_verified_tls(
        rit: Rit, probe: Probe, start_wire_server) -> None:
    """The executable is found on PATH; the Redshift driver gets the token and the TLS settings."""
    server = start_wire_server(max_connections=1)
    env = jvm_env(rit, PATH=f"{rit.bin.parent}{os.pathsep}{rit.env['PATH']}")
    env.pop("REDSHIFT_IDC_TOKEN_BIN", None)
    doc = probe.run(url(server.port), probe.tls(), env)

    (r,) = doc["results"]
    assert r["ok"], r
    assert r["value"] == 1
    assert r["metadata_url"] == f"jdbc:redshift://localhost:{server.port}/dev"

    (issued,) = rit.standin.issued_tokens()
    (req,) = rit.standin.requests()
    assert (req["service"], req["targets"], req["region"], req["access_key_id"]) == (
        "redshift", [CLUSTER_ID], REGION, ACCESS_KEY_ID)
    (conn,) = server.finish()["connections"]
    assert conn["outcome"] == "ok", conn["error"]
    assert conn["token"] == issued, "the server did not receive exactly the token AWS issued"
    assert conn["token_type"] == "SUBJECT_TOKEN"
    assert conn["idp_type"] == "AwsIdc"
    assert conn["plugin_name"] == PLUGIN
    assert conn["tls"] is not None
    assert "select 1" in conn["queries"]
    assert_no_leak(doc, issued)


def test_sixteen_connections_at_once_make_one_aws_call(
        rit: Rit, probe: Probe, start_wire_server) -> None:
    """16 threads of one JVM connect together on an empty cache: the executable's lock makes it
    one GetIdentityCenterAuthToken call, and every session gets that token."""
    server = start_wire_server(max_connections=16)
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin))
    assert not (Path(env["XDG_CACHE_HOME"]) / "redshift-idc-token").exists(), "cache not empty"
    doc = probe.run(url(server.port), probe.tls(), env, connections=16)

    failed = [r for r in doc["results"] if not r["ok"]]
    assert not failed, failed
    assert [r["value"] for r in doc["results"]] == [1] * 16
    assert len(rit.standin.requests()) == 1, "expected exactly one AWS call"
    (issued,) = rit.standin.issued_tokens()
    conns = server.finish()["connections"]
    assert len(conns) == 16
    assert all(c["outcome"] == "ok" and c["token"] == issued for c in conns), conns
    assert all(c["idp_type"] == "AwsIdc" and c["token_type"] == "SUBJECT_TOKEN" for c in conns)
    assert_no_leak(doc, issued)


def test_properties_come_from_url_or_connection_and_the_executable_from_a_property(
        rit: Rit, probe: Probe, start_wire_server) -> None:
    """Target and region as connection properties (any case, as the Redshift driver reads them),
    the executable from idcTokenExecutable (winning over a wrong REDSHIFT_IDC_TOKEN_BIN), and a
    caller's own token/plugin_name replaced by the fresh one."""
    server = start_wire_server(max_connections=1)
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN="/nonexistent/redshift-idc-token")
    props = dict(probe.tls(), clusterid=CLUSTER_ID, REGION=REGION, idcTokenExecutable=str(rit.bin),
                 token="stale-token-from-the-caller", plugin_name="SomethingElse",
                 loginTimeout="20")
    doc = probe.run(url(server.port, query=""), props, env)

    (r,) = doc["results"]
    assert r["ok"], r
    (issued,) = rit.standin.issued_tokens()
    (conn,) = server.finish()["connections"]
    assert conn["token"] == issued and conn["plugin_name"] == PLUGIN


def test_workgroup_and_profile_are_passed_on(rit: Rit, probe: Probe, start_wire_server,
                                             tmp_path: Path) -> None:
    """serverlessWorkGroup selects Redshift Serverless; Profile names the AWS profile."""
    server = start_wire_server(max_connections=1)
    config = tmp_path / "aws-config"
    config.write_text("[profile analytics]\nregion = eu-west-1\n")
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin), AWS_CONFIG_FILE=str(config))
    doc = probe.run(url(server.port, query="serverlessWorkGroup=analytics-wg&Profile=analytics"),
                    probe.tls(), env)

    (r,) = doc["results"]
    assert r["ok"], r
    (req,) = rit.standin.requests()
    # The region can only have come from the profile.
    assert (req["service"], req["targets"], req["region"]) == (
        "serverless", ["analytics-wg"], "eu-west-1")
    (conn,) = server.finish()["connections"]
    assert conn["token"] == req["token"]


TRICKY_TOKEN = "a=b:c#d!e\\f g&h%i+j;k{l}m\"n'o\u00e9\u20ac"


def test_a_token_full_of_special_characters_arrives_intact(
        rit: Rit, probe: Probe, start_wire_server, rit_standin: Path, tmp_path: Path,
        children: list[Child]) -> None:
    """The jdbc format's escapes (java.util.Properties) are undone exactly, non-ASCII included."""
    issuer = Child([str(rit_standin), "--max-seconds", "60", "--token", TRICKY_TOKEN], tmp_path,
                   "standin-tricky")
    children.append(issuer)
    env = dict(jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin)), AWS_ENDPOINT_URL=issuer.first_line())
    server = start_wire_server(max_connections=1)
    doc = probe.run(url(server.port), probe.tls(), env)
    (r,) = doc["results"]
    assert r["ok"], r
    (conn,) = server.finish()["connections"]
    assert conn["token"] == TRICKY_TOKEN
    assert_no_leak(doc, TRICKY_TOKEN)


# -- failures ------------------------------------------------------------------------------------

def expected_stderr_line(rit: Rit, *args: str, env: dict[str, str]) -> str:
    """What the executable itself says for these arguments: its one `error:` line on stderr
    (the AWS SDK may log a warning before it, e.g. about the missing config file)."""
    if not any(a.startswith("--timeout=") for a in args):
        args = ("--timeout=30", *args)
    proc = subprocess.run([str(rit.bin), "--format=jdbc", *args], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode != 0 and proc.stdout == ""
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    return line


def single_failure(doc: dict[str, Any]) -> dict[str, Any]:
    (r,) = doc["results"]
    assert not r["ok"], r
    return r


def test_bad_target_is_a_usage_error(rit: Rit, probe: Probe) -> None:
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin))
    doc = probe.run(url(1, query=f"ClusterID=bad--id&Region={REGION}"), probe.tls(), env)
    r = single_failure(doc)
    assert r["message"] == expected_stderr_line(rit, "--cluster-id=bad--id", f"--region={REGION}",
                                                  env=env)
    assert "bad--id" in r["message"]
    assert (r["exception"], r["sqlstate"], r["error_code"]) == (
        "java.sql.SQLNonTransientException", "22023", 2)
    assert rit.standin.requests() == []


def test_unparsable_host_without_a_target_is_a_usage_error(rit: Rit, probe: Probe) -> None:
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin))
    r = single_failure(probe.run(url(1, query=""), probe.tls(), env))
    assert r["message"] == expected_stderr_line(rit, "--host=localhost", env=env)
    assert r["sqlstate"] == "22023"


@pytest.mark.parametrize("code,exit_status", [("ClusterNotFound", 4), ("ExpiredToken", 3)])
def test_aws_refusal_is_an_authorization_error(rit: Rit, probe: Probe, rit_standin: Path,
                                               tmp_path: Path, children: list[Child],
                                               code: str, exit_status: int) -> None:
    failing = Child([str(rit_standin), "--max-seconds", "60", "--fail-first", "10",
                     "--fail-code", code], tmp_path, f"standin-{code}")
    children.append(failing)
    endpoint = failing.first_line()
    env = dict(jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin)), AWS_ENDPOINT_URL=endpoint)
    r = single_failure(probe.run(url(1), probe.tls(), env))
    expected = expected_stderr_line(rit, f"--cluster-id={CLUSTER_ID}", f"--region={REGION}",
                                    env=env)
    assert r["message"] == expected
    assert code in r["message"]
    assert (r["exception"], r["sqlstate"], r["error_code"]) == (
        "java.sql.SQLInvalidAuthorizationSpecException", "28000", exit_status)


def test_aws_hang_past_the_login_timeout_is_transient(rit: Rit, probe: Probe, rit_standin: Path,
                                                      tmp_path: Path,
                                                      children: list[Child]) -> None:
    """The stand-in answers only after 30 s: the executable gives up at the 2 s login timeout
    with its own message (exit 5), and is not left running."""
    slow = Child([str(rit_standin), "--max-seconds", "60", "--delay-ms", "30000"], tmp_path,
                 "standin-slow")
    children.append(slow)
    env = dict(jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin)), AWS_ENDPOINT_URL=slow.first_line())
    started = time.monotonic()
    r = single_failure(probe.run(url(1), dict(probe.tls(), loginTimeout="2"), env))
    assert time.monotonic() - started < 15
    assert r["message"] == expected_stderr_line(rit, "--timeout=2", f"--cluster-id={CLUSTER_ID}",
                                                f"--region={REGION}", env=env)
    assert "--timeout" in r["message"]
    assert (r["exception"], r["sqlstate"], r["error_code"]) == (
        "java.sql.SQLTransientConnectionException", "08001", 5)
    assert processes_running(rit.bin) == []


HANGING_EXECUTABLE = """#!/bin/sh
# Ignores --timeout and keeps a grandchild: the wrapper must kill both.
echo $$ > "$PROBE_PIDS/child"
sleep 300 &
echo $! > "$PROBE_PIDS/grandchild"
wait
"""


def test_executable_that_hangs_is_killed_with_its_descendants(rit: Rit, probe: Probe,
                                                              tmp_path: Path) -> None:
    """An executable that ignores its --timeout: killed, grandchild too, at the login timeout
    (DriverManager.setLoginTimeout(1)) plus the 2 s margin; SQLTimeoutException, 08001."""
    exe = fake_executable(tmp_path, "hanging-token-program", HANGING_EXECUTABLE)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe), PROBE_PIDS=str(pids))
    started = time.monotonic()
    r = single_failure(probe.run(url(1), probe.tls(), env, login_timeout=1))
    assert 2.5 <= r["ms"] / 1000 < 10, r["ms"]
    assert r["message"] == (f"{exe} did not finish within the login timeout of 1 s and was "
                            "stopped (set loginTimeout to allow more time)")
    assert (r["exception"], r["sqlstate"]) == ("java.sql.SQLTimeoutException", "08001")
    child, grandchild = (int((pids / n).read_text()) for n in ("child", "grandchild"))
    deadline = time.monotonic() + 5
    while (process_alive(child) or process_alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "the executable was left running"
    assert not process_alive(grandchild), "the executable's child was left running"
    assert time.monotonic() - started < JVM_TIMEOUT


LINGERING_EXECUTABLE = """#!/bin/sh
# Exits at once but leaves a grandchild that keeps stdout open.
sleep 300 &
echo $! > "$PROBE_PIDS/grandchild"
exit 0
"""


def test_output_held_open_after_exit_does_not_stall_the_connect(rit: Rit, probe: Probe,
                                                                 tmp_path: Path) -> None:
    """A program that exits but leaves a process holding its stdout cannot stall the connect:
    when the child exits, the JDK drains what is buffered and closes the pipes, so the wrapper
    reports at once. (That process was re-parented when the program exited, so it is no longer
    the wrapper's to find; the test removes it.)"""
    exe = fake_executable(tmp_path, "lingering-token-program", LINGERING_EXECUTABLE)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe), PROBE_PIDS=str(pids))
    try:
        r = single_failure(probe.run(url(1), dict(probe.tls(), loginTimeout="20"), env))
        assert r["ms"] < 10_000, r["ms"]
        assert "did not print a token in the jdbc format" in r["message"]
        assert r["sqlstate"] == "99999"
        assert process_alive(int((pids / "grandchild").read_text())), "the test saw the case"
    finally:
        grandchild = int((pids / "grandchild").read_text())
        if process_alive(grandchild):
            os.kill(grandchild, 9)


@pytest.mark.parametrize("status,sqlstate,exception", [
    (1, "99999", "java.sql.SQLNonTransientConnectionException"),
    (5, "08001", "java.sql.SQLTransientConnectionException"),
    (3, "28000", "java.sql.SQLInvalidAuthorizationSpecException"),
])
def test_exit_status_maps_to_sqlstate_and_the_error_line_is_the_message(
        rit: Rit, probe: Probe, tmp_path: Path, status: int, sqlstate: str, exception: str) -> None:
    """Warnings before the error line are dropped; the message is the `error:` line alone."""
    exe = fake_executable(tmp_path, "failing-token-program",
                          "#!/bin/sh\necho 'printed-on-stdout-never-shown'\n"
                          "echo ' WARN something the SDK said' >&2\n"
                          f"echo 'error: the reason, and what to do' >&2\necho >&2\nexit {status}\n")
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe))
    r = single_failure(probe.run(url(1), probe.tls(), env))
    assert r["message"] == "error: the reason, and what to do"
    assert (r["exception"], r["sqlstate"], r["error_code"]) == (exception, sqlstate, status)
    assert "printed-on-stdout-never-shown" not in r["trace"]


def test_missing_executable_says_how_to_fix_it(rit: Rit, probe: Probe, tmp_path: Path) -> None:
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(tmp_path / "no-such-program"))
    r = single_failure(probe.run(url(1), probe.tls(), env))
    assert r["message"].startswith(f"cannot run {tmp_path / 'no-such-program'}: ")
    assert "REDSHIFT_IDC_TOKEN_BIN" in r["message"] and "idcTokenExecutable" in r["message"]
    assert (r["exception"], r["sqlstate"]) == ("java.sql.SQLNonTransientConnectionException", "08001")


def test_wrong_program_output_is_not_taken_for_a_token(rit: Rit, probe: Probe) -> None:
    true = shutil.which("true")
    assert true
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=true)
    r = single_failure(probe.run(url(1), probe.tls(), env))
    assert "did not print a token in the jdbc format" in r["message"]
    assert r["sqlstate"] == "99999"


@pytest.mark.parametrize("query,props,needle", [
    (f"ClusterID={CLUSTER_ID}&Region={REGION}&idcTokenExecutable=/bin/sh", {},
     "idcTokenExecutable is not accepted in the URL"),
    (f"ClusterID={CLUSTER_ID}&Region={REGION}&sslmode=disable", {},
     "without verified TLS: sslmode=disable does not check the server's certificate "
     "(only verify-full and verify-ca do): use sslmode=verify-full"),
    (f"ClusterID={CLUSTER_ID}&Region={REGION}", {"ssl": "false"},
     "without verified TLS: ssl=false turns TLS off (the driver uses TLS only with ssl=true, "
     "its default): remove it"),
    (f"ClusterID={CLUSTER_ID}&Region={REGION}", {"sslfactory": "com.amazon.redshift.ssl.NonValidatingFactory"},
     "without verified TLS: sslfactory=com.amazon.redshift.ssl.NonValidatingFactory is not one of "
     "the driver's certificate-checking factories"),
])
def test_unsafe_settings_are_refused_before_anything_runs(rit: Rit, probe: Probe, tmp_path: Path,
                                                          query: str, props: dict[str, str],
                                                          needle: str) -> None:
    marker = tmp_path / "ran"
    exe = fake_executable(tmp_path, "must-not-run", f"#!/bin/sh\ntouch {marker}\n")
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe))
    r = single_failure(probe.run(url(1, query=query), props, env))
    assert needle in r["message"]
    assert r["sqlstate"] == "22023"
    assert not marker.exists(), "the executable ran"


def test_foreign_urls_are_left_to_other_drivers(probe: Probe, rit: Rit) -> None:
    """connect() returns null for a URL that is not ours, so DriverManager asks the next driver
    (here the Redshift driver itself, which fails to connect to a closed port)."""
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN="/nonexistent")
    r = single_failure(probe.run("jdbc:redshift://localhost:1/dev", dict(probe.tls(),
                                                                         loginTimeout="5"), env))
    assert "redshift-idc-token" not in r["message"] and "nonexistent" not in r["message"]
    assert r["sqlstate"].startswith("08")


def test_token_is_not_in_the_redshift_drivers_own_debug_log(
        rit: Rit, probe: Probe, start_wire_server, tmp_path: Path) -> None:
    """With the Redshift driver's logging at its most verbose, its log files hold no token."""
    server = start_wire_server(max_connections=1)
    logs = tmp_path / "driver-logs"
    logs.mkdir()
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin))
    doc = probe.run(url(server.port), dict(probe.tls(), LogLevel="DEBUG", LogPath=str(logs)), env)
    (r,) = doc["results"]
    assert r["ok"], r
    (issued,) = rit.standin.issued_tokens()
    # With a DriverManager log writer set (the probe sets one) the driver logs there, else to
    # files under LogPath.
    logged = doc["driver_manager_log"] + "".join(
        p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())
    assert len(logged) > 1000 and "IdpTokenAuthPlugin" in logged, "the driver logged nothing"
    assert issued not in logged
    assert_no_leak(doc, issued)


# -- the build and the driver lookup -------------------------------------------------------------

def test_jar_is_java8_registered_and_versioned_like_the_executable(wrapper_jar: Path) -> None:
    import tomllib
    import zipfile

    version = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text())["package"]["version"]
    assert wrapper_jar.name == f"redshift-idc-jdbc-{version}.jar"
    with zipfile.ZipFile(wrapper_jar) as z:
        manifest = z.read("META-INF/MANIFEST.MF").decode()
        assert f"Implementation-Version: {version}" in manifest.splitlines()
        services = z.read("META-INF/services/java.sql.Driver").decode().split()
        assert services == ["io.github.redshiftidctoken.jdbc.Driver"]
        classes = [n for n in z.namelist() if n.endswith(".class")]
        assert classes and all(n.startswith("io/github/redshiftidctoken/jdbc/") for n in classes)
        for n in classes:
            head = z.read(n)[:8]
            assert head[:4] == b"\xca\xfe\xba\xbe" and int.from_bytes(head[6:8], "big") == 52, n


def test_missing_redshift_driver_fails_with_instructions(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    import jdbc_support

    monkeypatch.delenv("REDSHIFT_JDBC_CLASSPATH", raising=False)
    monkeypatch.setattr(jdbc_support, "shared_jdbc_dirs", lambda: [tmp_path / "shared" / "jdbc"])
    with pytest.raises(DriverNotFound) as excinfo:
        jdbc_support.redshift_jdbc_classpath()
    text = str(excinfo.value)
    assert "REDSHIFT_JDBC_CLASSPATH" in text
    assert "mvn dependency:copy -Dartifact=com.amazon.redshift:redshift-jdbc42:2.2.6" in text
    assert str(tmp_path / "shared" / "jdbc") in text


# -- the INI refresh, for tools that can only use the stock driver ------------------------------

def test_ini_file_from_the_launcher_signs_in_the_stock_driver(
        rit: Rit, probe: Probe, start_wire_server, tmp_path: Path) -> None:
    """plugin-config/jdbc/redshift-idc-jdbc writes the INI section; the unmodified Redshift
    driver, given only IniFile/IniSection (and the trust store), reads it on connect."""
    ini = tmp_path / "rsjdbc.ini"
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin))
    proc = subprocess.run([str(JDBC_DIR / "redshift-idc-jdbc"), "--cluster-id", CLUSTER_ID,
                           "--region", REGION, "--output", str(ini)], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert ini.stat().st_mode & 0o777 == 0o600

    server = start_wire_server(max_connections=1)
    doc = probe.run(f"jdbc:redshift://localhost:{server.port}/dev",
                    {"IniFile": str(ini), "IniSection": "REDSHIFT_IDC",
                     "ssltruststorepath": str(probe.truststore)}, env)
    (r,) = doc["results"]
    assert r["ok"], r
    (issued,) = rit.standin.issued_tokens()
    (conn,) = server.finish()["connections"]
    assert (conn["token"], conn["token_type"], conn["idp_type"]) == (issued, "SUBJECT_TOKEN", "AwsIdc")


# -- the settings table shared with the Python provider (hostile_settings.json) -------------------

HOSTILE = json.loads((Path(__file__).resolve().parent / "hostile_settings.json").read_text())["settings"]
JDBC_REFUSED = [c for c in HOSTILE if c["jdbc"] == "refused"]


# Each setting in the URL, and as a connection property too, except idcTokenExecutable, which as
# a connection property is the documented way to choose the executable.
HOSTILE_CASES = [(where, c) for c in JDBC_REFUSED for where in ("url", "properties")
                 if not (where == "properties" and c["query"].startswith("idcTokenExecutable="))]


@pytest.mark.parametrize("where,case", HOSTILE_CASES, ids=[f"{w}-{c['query']}" for w, c in HOSTILE_CASES])
def test_hostile_settings_are_refused_before_anything_runs(rit: Rit, probe: Probe, tmp_path: Path,
                                                           case: dict[str, str], where: str) -> None:
    """No token without verified TLS and no program chosen by the URL; the message names the
    setting."""
    marker = tmp_path / "ran"
    exe = fake_executable(tmp_path, "must-not-run", f"#!/bin/sh\ntouch {marker}\n")
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe))
    key, value = case["query"].replace("PROGRAM", str(exe)).split("=", 1)
    props = {k: v for k, v in probe.tls().items() if k != key}
    query = f"ClusterID={CLUSTER_ID}&Region={REGION}"
    if where == "url":
        query += f"&{key}={value}"
    else:
        props[key] = value
    r = single_failure(probe.run(url(1, query=query), props, env))
    assert key in r["message"], r["message"]
    assert r["sqlstate"] == "22023", r
    assert not marker.exists(), f"the executable ran although {case['why']}"


# -- exit statuses (plugin-config/exit-codes.json) -------------------------------------------------

EXIT_CODES = json.loads((REPO_ROOT / "plugin-config" / "exit-codes.json").read_text())["exit_codes"]
# What a tool sees for each kind of failure: the deliberate mapping (see plugin-config/jdbc/README.md).
EXPECTED_SQL = {
    "internal": ("java.sql.SQLNonTransientConnectionException", "99999"),
    "usage": ("java.sql.SQLNonTransientException", "22023"),
    "credentials": ("java.sql.SQLInvalidAuthorizationSpecException", "28000"),
    "denied": ("java.sql.SQLInvalidAuthorizationSpecException", "28000"),
    "transient": ("java.sql.SQLTransientConnectionException", "08001"),
    "sign_in": ("java.sql.SQLInvalidAuthorizationSpecException", "28000"),
    "setup": ("java.sql.SQLInvalidAuthorizationSpecException", "28000"),
    "cannot_execute": ("java.sql.SQLNonTransientConnectionException", "08001"),
    "command_not_found": ("java.sql.SQLNonTransientConnectionException", "08001"),
}


def test_every_exit_code_of_the_table_has_a_mapping_here() -> None:
    assert set(EXPECTED_SQL) == {c["name"] for c in EXIT_CODES if c["code"] != 0}


def test_every_exit_code_maps_to_its_sqlstate_through_the_wrapper(rit: Rit, probe: Probe,
                                                                   tmp_path: Path) -> None:
    """One JVM run per code of exit-codes.json; none falls through to the wrapper's 'unknown
    exit status' case, and only `internal` is reported as a bug (99999)."""
    for code in EXIT_CODES:
        if code["code"] == 0:
            continue
        exe = fake_executable(tmp_path, f"exit-{code['code']}",
                              f"#!/bin/sh\necho 'error: the reason ({code['name']})' >&2\nexit {code['code']}\n")
        r = single_failure(probe.run(url(1), probe.tls(), jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe))))
        assert (r["exception"], r["sqlstate"], r["error_code"]) == (*EXPECTED_SQL[code["name"]], code["code"]), code
        assert r["message"].startswith(f"error: the reason ({code['name']})"), r["message"]
        assert "unknown exit status" not in r["message"]
        if code["name"] == "sign_in":
            assert "redshift-idc-token login" in r["message"], r["message"]


def test_an_exit_status_outside_the_table_is_reported_as_unknown(rit: Rit, probe: Probe,
                                                                 tmp_path: Path) -> None:
    exe = fake_executable(tmp_path, "exit-42", "#!/bin/sh\necho 'error: what' >&2\nexit 42\n")
    r = single_failure(probe.run(url(1), probe.tls(), jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(exe))))
    assert (r["sqlstate"], r["error_code"]) == ("99999", 42)
    assert "unknown exit status 42" in r["message"], r["message"]


@pytest.mark.parametrize("extra", [
    {"sslmode": "verify-ca"},
    {"sslmode": "VERIFY-FULL", "ssl": "TRUE"},
    {"sslfactory": "com.amazon.redshift.ssl.LibPQFactory"},
], ids=["verify-ca", "upper-case", "libpq-factory"])
def test_verifying_settings_still_connect(rit: Rit, probe: Probe, start_wire_server,
                                          extra: dict[str, str]) -> None:
    """The control for the refusals above: the settings that check the certificate connect."""
    server = start_wire_server(max_connections=1)
    env = jvm_env(rit, REDSHIFT_IDC_TOKEN_BIN=str(rit.bin))
    (r,) = probe.run(url(server.port), {**probe.tls(), **extra}, env)["results"]
    assert r["ok"], r
    (conn,) = server.finish()["connections"]
    assert conn["outcome"] == "ok" and conn["tls"] is not None
