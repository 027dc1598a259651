"""What a `redshift_connector.connect` through the provider costs, against the same connect with a
token passed in, in one run.

Why it exists: the provider runs the executable on every connection; on a cache hit that should
cost about one process start. This measures it instead of claiming it: N connects (TLS,
verify-full, authentication, ``select 1``, close) to the local Redshift wire stand-in with
``credentials_provider="redshift_idc_token.IdpTokenAuthPlugin"`` (the cache filled by one
warm-up connect), and N with the driver's own ``IdpTokenAuthPlugin`` and a fixed token, taking
turns so that machine load hits both alike; and, with less noise, the provider's own part
(``get_token`` on a cache hit) against starting ``/bin/true`` from Python. Medians are printed.

Run it with the Python of a venv holding the wheel (scripts/test-wheel makes one):
    target/wheel-test/venv/bin/python tests/e2e/wheel/bench_connect.py [N]
Env: RIT_STANDIN (default target/debug/examples/aws-standin).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redshift_connector

import redshift_idc_token

E2E = Path(__file__).resolve().parents[1]
REPO = E2E.parents[1]


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    standin = os.environ.get("RIT_STANDIN", str(REPO / "target/debug/examples/aws-standin"))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "1", "-subj", "/CN=bench CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(d / "s.key"), "-out", str(d / "s.csr"), "-subj", "/CN=localhost")
        (d / "ext").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", str(d / "s.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
                "-set_serial", "1", "-days", "1", "-out", str(d / "s.pem"), "-extfile", str(d / "ext"))
        os.environ.update(SSL_CERT_FILE=str(d / "ca.pem"), HOME=str(d), XDG_CACHE_HOME=str(d / "cache"),
                          AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench-secret",
                          AWS_SESSION_TOKEN="bench-session", AWS_CONFIG_FILE=str(d / "none"),
                          AWS_SHARED_CREDENTIALS_FILE=str(d / "none"), AWS_EC2_METADATA_DISABLED="true")
        os.environ.pop("SSL_CERT_DIR", None)
        aws = subprocess.Popen([standin, "--max-seconds", "600"], stdout=subprocess.PIPE, text=True)
        wire = subprocess.Popen([sys.executable, str(E2E / "redshift_wire_server.py"), "--cert", str(d / "s.pem"),
                                 "--key", str(d / "s.key"), "--report", str(d / "report.json"),
                                 "--max-connections", str(2 * n + 1), "--max-seconds", "600"],
                                stdout=subprocess.PIPE, text=True)
        try:
            url, port = first_line(aws), int(first_line(wire))
            common = dict(host="localhost", port=port, database="dev", sslmode="verify-full", timeout=15,
                          application_name="bench")  # else the driver walks inspect.stack()
            provider = dict(credentials_provider="redshift_idc_token.IdpTokenAuthPlugin",
                            cluster_identifier="mycluster", region="us-east-1", endpoint_url=url)
            # The full name: the short one costs a failed import of "IdpTokenAuthPlugin" per connect.
            static = dict(credentials_provider="redshift_connector.plugin.IdpTokenAuthPlugin",
                          token="bench-static-token",
                          token_type="SUBJECT_TOKEN")

            def once(kwargs: dict[str, object]) -> float:
                started = time.perf_counter()
                conn = redshift_connector.connect(**common, **kwargs)  # type: ignore[arg-type]
                cur = conn.cursor()
                cur.execute("select 1")
                assert cur.fetchall()[0][0] == 1
                conn.close()
                return time.perf_counter() - started

            def token_only() -> float:  # what the provider adds to a connect
                started = time.perf_counter()
                redshift_idc_token.get_token(cluster_id="mycluster", region="us-east-1", endpoint_url=url)
                return time.perf_counter() - started

            def floor() -> float:  # starting a process that does nothing, from Python
                started = time.perf_counter()
                subprocess.run(["/bin/true"], check=True, stdin=subprocess.DEVNULL)
                return time.perf_counter() - started

            once(provider)  # fills the cache: every timed provider connect below is a hit
            times: dict[str, list[float]] = {"provider": [], "static": [], "token": [], "true": []}
            for _ in range(n):
                times["provider"].append(once(provider))
                times["static"].append(once(static))
                times["token"].append(token_only())
                times["true"].append(floor())
        finally:
            for proc in (aws, wire):
                proc.terminate()
                proc.wait(10)
    p, s, t, f = (statistics.median(times[k]) * 1000 for k in ("provider", "static", "token", "true"))
    print(f"{n} runs each, medians: connect through the provider (cache hit) {p:.2f} ms, "
          f"connect with a fixed token {s:.2f} ms (difference {p - s:.2f} ms); the provider's "
          f"get_token alone {t:.2f} ms, /bin/true from Python {f:.2f} ms ({t / f:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
