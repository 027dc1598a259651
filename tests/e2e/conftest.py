"""Shared fixtures for the Python end-to-end tests: test PKI, the AWS stand-in, the wire server.

Why it exists: every end-to-end test needs the same moving parts, each bounded in time and
cleaned up afterwards:

* a throw-away certificate authority and server certificates made with the `openssl` CLI,
  trusted by the driver through OpenSSL's standard ``SSL_CERT_FILE`` variable (see
  ``trust_test_ca``), so the driver connects with certificate verification on;
* the AWS stand-in program (``RIT_STANDIN``) that plays GetIdentityCenterAuthToken and logs
  the token it issued;
* `redshift-idc-token` itself (``RIT_BIN``), run with fixed, isolated AWS credentials;
* the Redshift wire-protocol stand-in (redshift_wire_server.py) that records what the driver
  sent.

Tests that need the Rust executables skip, with the reason, when ``RIT_BIN`` or
``RIT_STANDIN`` do not exist; nothing else is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
WIRE_SERVER = E2E_DIR / "redshift_wire_server.py"
SCHEMA_PATH = REPO_ROOT / "plugin-config" / "schema" / "token-output.v1.schema.json"
# The source of the redshift_idc_token package (the unit tests import it from here; the wheel
# suite in wheel/ uses the installed wheel instead).
PACKAGE_SRC = REPO_ROOT / "plugin-config" / "python" / "src"

ACCESS_KEY_ID = "AKIDE2ETEST"
SECRET_ACCESS_KEY = "e2e-secret-access-key-not-real"
SESSION_TOKEN = "e2e-session-token-not-real"
CLUSTER_ID = "mycluster"
REGION = "us-east-1"
STARTUP_TIMEOUT = 20.0  # seconds for a child to print its first line
PROCESS_TIMEOUT = 60  # seconds for one run of redshift-idc-token


def _repo_path(env_var: str, default: str) -> Path:
    p = Path(os.environ.get(env_var) or default)
    return p if p.is_absolute() else REPO_ROOT / p


@pytest.fixture(scope="session")
def rit_bin() -> Path:
    p = _repo_path("RIT_BIN", "target/debug/redshift-idc-token")
    if not p.is_file():
        pytest.skip(f"RIT_BIN={p} does not exist: build it with `cargo build --bins` (or set RIT_BIN)")
    return p


@pytest.fixture(scope="session")
def rit_standin() -> Path:
    p = _repo_path("RIT_STANDIN", "target/debug/examples/aws-standin")
    if not p.is_file():
        pytest.skip(
            f"RIT_STANDIN={p} does not exist: build it with `cargo build --examples` (or set RIT_STANDIN)")
    return p


# -- processes ---------------------------------------------------------------------------------

class Child:
    """A child process whose stdout/stderr go to files, killed at teardown at the latest."""

    def __init__(self, argv: list[str], workdir: Path, name: str, env: dict[str, str] | None = None):
        self.name = name
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)

    def first_line(self, timeout: float = STARTUP_TIMEOUT) -> str:
        """Waits for the first complete line of stdout (the port or URL the child serves on)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.stdout_path.read_bytes()
            if b"\n" in data:
                return data.split(b"\n", 1)[0].decode().strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError(
            f"{self.name} printed no first line within {timeout}s (exit code {self.proc.returncode}); "
            f"stderr:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_until_gone(pids: list[int], timeout: float = 5) -> bool:
    """Waits up to `timeout` seconds for every process in `pids` to be gone; True if they are."""
    deadline = time.monotonic() + timeout
    while any(process_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Every Child a test starts is appended here and stopped when the test ends."""
    started: list[Child] = []
    yield started
    for c in started:
        c.stop()


# -- test PKI ----------------------------------------------------------------------------------

@dataclass
class Pki:
    dir: Path
    ca_cert: Path
    ca_key: Path

    def server_cert(self, name: str, san: str) -> tuple[Path, Path]:
        """Issues a server certificate for `san` (e.g. "IP:127.0.0.1,DNS:localhost")."""
        key, csr, cert = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        ext = self.dir / f"{name}.ext"
        ext.write_text(
            f"subjectAltName={san}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                 "-set_serial", str(int(time.time() * 1000)), "-days", "2", "-sha256",
                 "-out", cert, "-extfile", ext)
        return cert, key


def _openssl(*args: Any) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is required (scripts/python-env installs it)"
    proc = subprocess.run([openssl, *map(str, args)], capture_output=True, timeout=30)
    assert proc.returncode == 0, f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace')}"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A fresh CA (EC P-256, valid 2 days) made for this test session only."""
    d = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = d / "ca.pem", d / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-sha256",
             "-subj", "/CN=redshift-idc-token e2e test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return Pki(d, ca_cert, ca_key)


@pytest.fixture(scope="session")
def server_cert(pki: Pki) -> tuple[Path, Path]:
    """The wire server's certificate: valid for 127.0.0.1 and localhost."""
    return pki.server_cert("server", "IP:127.0.0.1,DNS:localhost")


@pytest.fixture
def trust_test_ca(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Makes the driver trust the test CA, without touching the driver.

    redshift_connector builds its TLS context as ``SSLContext(); verify_mode = CERT_REQUIRED;
    load_default_certs(); load_verify_locations(<its bundled Redshift CA bundle>)``. It has no
    option for a custom root certificate, but ``load_default_certs()`` calls OpenSSL's
    ``set_default_verify_paths()``, which reads the standard ``SSL_CERT_FILE`` variable: so the
    test CA is added to the trusted roots while verification stays on.
    """
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return pki.ca_cert


# -- the Redshift wire stand-in ----------------------------------------------------------------

@dataclass
class WireServer:
    child: Child
    port: int
    report_path: Path

    def report(self) -> dict[str, Any]:
        return json.loads(self.report_path.read_text())

    def connections(self) -> list[dict[str, Any]]:
        return self.report()["connections"]

    def finish(self, timeout: float = 15) -> dict[str, Any]:
        """Waits for the server to exit (after its last connection) and returns the report."""
        assert self.child.wait(timeout) == 0, f"wire server failed:\n{self.child.stderr()}"
        return self.report()


@pytest.fixture
def start_wire_server(tmp_path: Path, children: list[Child],
                      server_cert: tuple[Path, Path]) -> Callable[..., WireServer]:
    counter = iter(range(1000))

    def start(*, expect_token: str | None = None, max_connections: int = 1,
              cert: tuple[Path, Path] | None = None, max_seconds: float = 30,
              access_token_key_file: Path | None = None) -> WireServer:
        n = next(counter)
        cert_path, key_path = cert or server_cert
        report = tmp_path / f"wire{n}.report.json"
        argv = [sys.executable, str(WIRE_SERVER), "--cert", str(cert_path), "--key", str(key_path),
                "--report", str(report), "--max-connections", str(max_connections),
                "--max-seconds", str(max_seconds)]
        if expect_token is not None:
            expected = tmp_path / f"wire{n}.expected-token"
            expected.write_text(expect_token)
            argv += ["--expect-token-file", str(expected)]
        if access_token_key_file is not None:
            argv += ["--access-token-key-file", str(access_token_key_file)]
        child = Child(argv, tmp_path, f"wire{n}")
        children.append(child)
        port = int(child.first_line())
        return WireServer(child, port, report)

    return start


# -- the AWS stand-in and redshift-idc-token ---------------------------------------------------

@dataclass
class AwsStandin:
    child: Child
    url: str
    log_path: Path

    def requests(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def issued_tokens(self) -> list[str]:
        return [r["token"] for r in self.requests() if r.get("token")]


@pytest.fixture
def aws_standin(rit_standin: Path, tmp_path: Path, children: list[Child]) -> AwsStandin:
    log = tmp_path / "aws-standin.log.jsonl"
    child = Child([str(rit_standin), "--max-seconds", "60", "--log", str(log)], tmp_path, "aws-standin")
    children.append(child)
    url = child.first_line()
    assert url.startswith("http://127.0.0.1:"), f"unexpected stand-in URL line {url!r}"
    return AwsStandin(child, url, log)


@pytest.fixture
def rit_env(tmp_path: Path) -> dict[str, str]:
    """An environment with fixed credentials and no way to reach real AWS or user config."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-such-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-such-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


@dataclass
class Rit:
    """Runs redshift-idc-token against the AWS stand-in."""
    bin: Path
    standin: AwsStandin
    env: dict[str, str]
    runs: list[subprocess.CompletedProcess] = field(default_factory=list)

    def argv(self, fmt: str, *extra: str) -> list[str]:
        return [str(self.bin), "--cluster-id", CLUSTER_ID, "--region", REGION,
                "--endpoint-url", self.standin.url, "--format", fmt, "--no-cache", *extra]

    def run(self, fmt: str, *extra: str) -> str:
        proc = subprocess.run(self.argv(fmt, *extra), env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=PROCESS_TIMEOUT)
        self.runs.append(proc)
        assert proc.returncode == 0, (
            f"redshift-idc-token exited {proc.returncode}; stderr:\n{proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode()

    def json_doc(self, fmt: str) -> dict[str, Any]:
        out = self.run(fmt)
        assert out.endswith("\n") and out.count("\n") == 1, f"expected one line of JSON, got {len(out)} bytes"
        return json.loads(out)


@pytest.fixture
def rit(rit_bin: Path, aws_standin: AwsStandin, rit_env: dict[str, str]) -> Rit:
    return Rit(rit_bin, aws_standin, rit_env)
