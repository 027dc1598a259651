"""End to end: access-token mode, one sign-in for every connection, through the real drivers.

Why it exists: in access-token mode (a profile with `redshift_idc_issuer_url` and
`redshift_idc_region`, no application or role) the executable signs the person in once, caches
the Identity Center access token and prints it with ``token_type=ACCESS_TOKEN`` on every run.
The drivers' own ``BrowserIdcAuthPlugin`` opens a browser window on every connection instead.
These tests show that the printed token really opens a Redshift session through both real
drivers, as the right person, and that a pool of connections costs exactly one sign-in:

    redshift-idc-token login  ->  Identity Center stand-in (aws-standin --idc):
        RegisterClient, /authorize in headless Chromium (scripts/headless-browser) or the
        device code, CreateToken; the access token cached
    N connections at once, each running the executable (a cache hit):
        JdbcProbe -> jdbc:redshift-idc:// wrapper -> redshift-idc-token --format=jdbc
            -> com.amazon.redshift.Driver 2.2.6 (IdpTokenAuthPlugin, verify-full)
        redshift_connector.connect(credentials_provider="redshift_idc_token.IdpTokenAuthPlugin")
            -> redshift-idc-token --format=json (verify-full)
    ->  Redshift wire stand-in: token_type=ACCESS_TOKEN accepted only for an access token the
        Identity Center stand-in signed (the same key file), reporting the person it names

and the Identity Center stand-in's own counts prove one RegisterClient, one authorization and
one CreateToken. The executable runs with no AWS credentials at all (the sso-oidc calls are
unsigned), and a Redshift API stand-in is configured only to prove it is never called.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import redshift_connector

from conftest import CLUSTER_ID, PACKAGE_SRC, PROCESS_TIMEOUT, REGION, REPO_ROOT, Child, WireServer
from test_jdbc_wrapper import (PLUGIN, Probe, assert_no_leak, probe, probe_classes,  # noqa: F401
                               redshift_classpath, truststore, url, wrapper_jar)

HEADLESS_BROWSER = REPO_ROOT / "scripts" / "headless-browser"
# The instance the stand-in plays (tests/support/idc_standin.rs, DEFAULT_ISSUER_URL and
# DEFAULT_START_URL): RegisterClient accepts it as issuerUrl.
ISSUER_URL = "https://identitycenter.amazonaws.com/ssoins-7223ac1b2bc1e4f5"
START_URL = "https://d-9067c2e1f0.awsapps.com/start"
CONNECTIONS = 16
DRIVER_TIMEOUT = 30  # the driver's socket timeout, seconds
BROWSER_PERSON = "bob"  # who the stand-in's browser is signed in as
DEVICE_PERSON = "alice"  # who approves the device code on "another device"
GRANTS = {"browser": "authorization_code", "device": "urn:ietf:params:oauth:grant-type:device_code"}


# -- the stand-ins -------------------------------------------------------------------------------

@dataclass
class IdcStandin:
    """`aws-standin --idc`: the Redshift API stand-in (first URL) and the Identity Center
    stand-in (second URL), the latter signing access tokens with `key_file`."""
    child: Child
    redshift_url: str
    url: str
    key_file: Path
    redshift_log: Path

    def counts(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/standin/counts", timeout=10) as r:
            return json.loads(r.read())

    def redshift_requests(self) -> int:
        if not self.redshift_log.exists():
            return 0
        return len([line for line in self.redshift_log.read_text().splitlines() if line.strip()])


def start_idc_standin(rit_standin: Path, workdir: Path, children: list[Child], name: str,
                      key: str) -> IdcStandin:
    key_file = workdir / f"{name}.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    redshift_log = workdir / f"{name}.redshift.jsonl"
    child = Child([str(rit_standin), "--idc", "--idc-person", BROWSER_PERSON,
                   "--idc-access-token-key-file", str(key_file), "--log", str(redshift_log),
                   "--idc-log", str(workdir / f"{name}.idc.jsonl"), "--max-seconds", "240"],
                  workdir, name)
    children.append(child)
    redshift_url = child.first_line()
    deadline = time.monotonic() + 20
    while len(child.stdout_path.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline, f"no Identity Center URL:\n{child.stderr()}"
        time.sleep(0.02)
    idc_url = child.stdout_path.read_text().splitlines()[1].strip()
    assert idc_url.startswith("http://127.0.0.1:"), idc_url
    return IdcStandin(child, redshift_url, idc_url, key_file, redshift_log)


@pytest.fixture
def idc(rit_standin: Path, tmp_path: Path, children: list[Child]) -> IdcStandin:
    return start_idc_standin(rit_standin, tmp_path, children, "idc", os.urandom(24).hex())


# -- the person's machine: a profile in access-token mode, a browser, no AWS credentials ----------

@dataclass
class Person:
    """The environment of someone whose profile is in access-token mode."""
    bin: Path
    env: dict[str, str]
    home: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.bin), *args], env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=PROCESS_TIMEOUT)
        if check:
            assert proc.returncode == 0, (
                f"redshift-idc-token {' '.join(args)} exited {proc.returncode}:\n"
                f"{proc.stderr.decode(errors='replace')}")
        return proc

    def browser_opens(self) -> int:
        log = self.home / "browser.log"
        return sum(1 for line in log.read_text().splitlines() if line.startswith("open ")) \
            if log.exists() else 0

    def cached_token(self) -> str:
        doc = json.loads(self.run("--cluster-id", CLUSTER_ID, "--format", "json").stdout)
        assert doc["token_type"] == "ACCESS_TOKEN" and doc["source"] == "cache", doc
        return doc["token"]


def make_person(rit_bin: Path, idc: IdcStandin, home: Path, tmpdir: Path) -> Person:
    """`tmpdir` must have a short path: Chromium's profile goes there, and the path of its
    singleton socket must fit a Unix socket address (108 bytes)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n"
                      f"redshift_idc_issuer_url = {ISSUER_URL}\nredshift_idc_region = us-east-1\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "REDSHIFT_IDC_TOKEN_", "HEADLESS_BROWSER_"))}
    env.update({
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "TMPDIR": str(tmpdir),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-such-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # Every AWS call goes to the stand-ins: sso-oidc to Identity Center, and anything else
        # (a Redshift call this mode must not make) to the Redshift stand-in, which logs it.
        "AWS_ENDPOINT_URL": idc.redshift_url,
        "AWS_ENDPOINT_URL_SSO_OIDC": idc.url,
        "REDSHIFT_IDC_TOKEN_LISTEN_PORT": "0",
        "REDSHIFT_IDC_TOKEN_BROWSER": str(HEADLESS_BROWSER),
        "HEADLESS_BROWSER_LOG": str(home / "browser.log"),
        "HEADLESS_BROWSER_TIMEOUT": "30",
        # A sign-in that cannot finish fails well inside the test's own time limit.
        "REDSHIFT_IDC_TOKEN_SIGNIN_TIMEOUT": "40",
    })
    return Person(rit_bin, env, home)


@pytest.fixture
def short_tmpdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="rit-at-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def person(rit_bin: Path, idc: IdcStandin, tmp_path: Path, short_tmpdir: Path) -> Person:
    return make_person(rit_bin, idc, tmp_path / "home", short_tmpdir)


def device_login(p: Person, idc_url: str, approver: str) -> subprocess.CompletedProcess:
    """`redshift-idc-token login` with the device code, approved by `approver` on "another
    device": the verification page read from the URL the executable printed, its form posted."""
    proc = subprocess.Popen([str(p.bin), "login", "--signin", "device"], env=p.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        said = []
        verification = None
        assert proc.stderr is not None
        for line in proc.stderr:
            said.append(line)
            m = re.search(r"(http://\S*user_code=\S+)", line)
            if m:
                verification = m.group(1).rstrip(".,)")
                break
        assert verification and verification.startswith(idc_url), "".join(said)
        with urllib.request.urlopen(verification, timeout=10) as r:
            page = r.read().decode()
        user_code = re.search(r'name="user_code" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"user_code": user_code, "person": approver,
                                       "decision": "allow"}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{idc_url}/device/approve", data=form),
                                    timeout=10) as r:
            assert r.status == 200
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(said) + err)


def assert_one_sign_in(idc: IdcStandin, *, grant: str) -> None:
    """The Identity Center stand-in saw one registration, one authorization, one token."""
    counts = idc.counts()
    ok = counts["ok"]
    assert ok.get("RegisterClient") == 1, counts
    assert ok.get("CreateToken") == 1, counts
    if grant == "browser":
        assert ok.get("Authorize") == 1 and ok.get("Approve") == 1, counts
        assert "StartDeviceAuthorization" not in counts["requests"], counts
    else:
        assert ok.get("StartDeviceAuthorization") == 1 and ok.get("DeviceApprove") == 1, counts
        assert "Authorize" not in counts["requests"], counts
    # Only the sign-in's own grant: no refresh, no second sign-in.
    grants = {k for k in counts["grants"] if k.startswith("CreateToken:")}
    assert grants == {f"CreateToken:{GRANTS[grant]}"}, counts
    assert idc.redshift_requests() == 0, "access-token mode must not call Redshift's API"


def assert_sessions(server: WireServer, n: int, token: str, person_name: str, plugin: str) -> list[dict]:
    conns = server.finish(timeout=60)["connections"]
    assert len(conns) == n, conns
    for c in conns:
        assert c["outcome"] == "ok", c["error"]
        assert c["token_type"] == "ACCESS_TOKEN", c["startup_params"]
        assert c["idp_type"] == "AwsIdc" and c["plugin_name"] == plugin, c["startup_params"]
        assert c["person"] == person_name, c
        assert c["token"] == token, "a session got another token than the cached one"
        assert c["tls"] is not None and "select 1" in c["queries"], c
    return conns


# -- the JDBC wrapper ----------------------------------------------------------------------------

def test_jdbc_wrapper_sixteen_connections_after_one_browser_sign_in(
        person: Person, idc: IdcStandin, probe: Probe, start_wire_server) -> None:  # noqa: F811
    login = person.run("login")
    assert login.stdout == b"", "login prints nothing on stdout"
    assert b"signed in" in login.stderr, login.stderr
    assert person.browser_opens() == 1
    token = person.cached_token()
    assert token.encode() not in login.stderr

    server = start_wire_server(max_connections=CONNECTIONS, access_token_key_file=idc.key_file,
                               max_seconds=120)
    env = dict(person.env, REDSHIFT_IDC_TOKEN_BIN=str(person.bin))
    doc = probe.run(url(server.port), probe.tls(), env, connections=CONNECTIONS)

    failed = [r for r in doc["results"] if not r["ok"]]
    assert not failed, failed
    assert [r["value"] for r in doc["results"]] == [1] * CONNECTIONS
    assert_sessions(server, CONNECTIONS, token, BROWSER_PERSON, PLUGIN)
    assert person.browser_opens() == 1, "a connection opened a browser"
    assert_one_sign_in(idc, grant="browser")
    assert_no_leak(doc, token)


# -- the Python provider -------------------------------------------------------------------------

def adopt(person: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes this process's environment the person's: redshift_connector runs the provider in
    process, and the provider runs the executable with this environment."""
    for k in list(os.environ):
        if k.startswith(("AWS_", "REDSHIFT_IDC_TOKEN_", "HEADLESS_BROWSER_")):
            monkeypatch.delenv(k)
    for k, v in person.env.items():
        if k != "SSL_CERT_FILE":
            monkeypatch.setenv(k, v)
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(person.bin))


@pytest.fixture
def provider_env(person: Person, trust_test_ca: Path, monkeypatch: pytest.MonkeyPatch) -> Person:
    monkeypatch.syspath_prepend(str(PACKAGE_SRC))
    adopt(person, monkeypatch)
    return person


def provider_connect(port: int) -> int:
    conn = redshift_connector.connect(
        host="localhost", port=port, database="dev", ssl=True, sslmode="verify-full",
        timeout=DRIVER_TIMEOUT, application_name="access-token-e2e",
        credentials_provider="redshift_idc_token.IdpTokenAuthPlugin",
        cluster_identifier=CLUSTER_ID, region=REGION)
    try:
        cur = conn.cursor()
        cur.execute("select 1")
        return cur.fetchall()[0][0]
    finally:
        conn.close()


def connect_all(port: int, n: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: provider_connect(port), range(n)))


@pytest.mark.parametrize("signin", ["browser", "device"])
def test_python_provider_sixteen_connections_after_one_sign_in(
        provider_env: Person, idc: IdcStandin, start_wire_server, signin: str) -> None:
    person = provider_env
    if signin == "browser":
        login, who = person.run("login"), BROWSER_PERSON
        assert person.browser_opens() == 1
    else:
        # The browser person is bob; the device code is approved by alice: the wire stand-in
        # must name alice, so the person check cannot pass by accident.
        config = Path(person.env["AWS_CONFIG_FILE"])
        config.write_text(config.read_text() + f"redshift_idc_start_url = {START_URL}\n")
        login, who = device_login(person, idc.url, DEVICE_PERSON), DEVICE_PERSON
        assert person.browser_opens() == 0
    assert login.returncode == 0, login.stderr
    token = person.cached_token()
    assert token not in (login.stderr if isinstance(login.stderr, str) else login.stderr.decode())

    server = start_wire_server(max_connections=CONNECTIONS, access_token_key_file=idc.key_file,
                               max_seconds=120)
    assert connect_all(server.port, CONNECTIONS) == [1] * CONNECTIONS
    conns = assert_sessions(server, CONNECTIONS, token, who, "redshift_idc_token.IdpTokenAuthPlugin")
    assert all(c["token_had_nul"] is False for c in conns)
    assert person.browser_opens() == (1 if signin == "browser" else 0)
    assert_one_sign_in(idc, grant=signin)


# -- the check cannot pass trivially -------------------------------------------------------------

def test_access_token_of_another_identity_center_is_refused(
        provider_env: Person, idc: IdcStandin, rit_bin: Path, rit_standin: Path, tmp_path: Path,
        short_tmpdir: Path, children: list[Child], start_wire_server,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A real access token, from the same executable and flow, but issued by an Identity Center
    the Redshift endpoint does not trust (a stand-in with another key): refused, no session.
    The same connection with a token of the trusted one then goes through."""
    other = start_idc_standin(rit_standin, tmp_path, children, "other-idc", os.urandom(24).hex())
    foreigner = make_person(rit_bin, other, tmp_path / "home-other", short_tmpdir)
    foreigner.run("login")
    foreign = foreigner.cached_token()
    server = start_wire_server(max_connections=2, access_token_key_file=idc.key_file)

    adopt(foreigner, monkeypatch)
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        provider_connect(server.port)
    text = str(excinfo.value)
    assert "IdC token rejected" in text and "bad signature" in text, text
    assert "28000" in text

    adopt(provider_env, monkeypatch)
    provider_env.run("login")
    trusted = provider_env.cached_token()
    assert provider_connect(server.port) == 1

    first, second = server.finish()["connections"]
    assert first["outcome"] == "rejected" and first["person"] is None
    assert first["token"] == foreign and first["token_type"] == "ACCESS_TOKEN"
    assert second["outcome"] == "ok" and second["person"] == BROWSER_PERSON
    assert second["token"] == trusted != foreign
    assert other.counts()["ok"].get("CreateToken") == 1
    assert idc.counts()["ok"].get("CreateToken") == 1


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
