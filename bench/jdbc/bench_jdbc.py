"""The JDBC connect benchmark: the wrapper on a cache hit vs. a static token, in one JVM run.

Why it exists: the README's performance section states what the wrapper costs a connect. This
sets up what JdbcConnectBench.java measures against (the release executable, the AWS stand-in,
a test CA, its PKCS12 trust store, the Redshift wire stand-in), primes the token cache, runs the
Java benchmark, and prints a Markdown table with medians, the ratio and the difference.
Run it through scripts/bench-jdbc.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from conftest import WIRE_SERVER, Child, Pki, _openssl  # noqa: E402
from jdbc_support import build_wrapper_jar, make_truststore, redshift_jdbc_classpath  # noqa: E402

BIN = REPO / "target/release/redshift-idc-token"
STANDIN = REPO / "target/release/examples/aws-standin"
BENCH_SOURCE = Path(__file__).resolve().parent / "JdbcConnectBench.java"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=300, help="measured connects of each kind")
    ap.add_argument("--out", default=str(REPO / "bench" / "jdbc" / "results.md"),
                    help="also write the table here ('' for nowhere)")
    args = ap.parse_args()
    for p in (BIN, STANDIN):
        if not p.is_file():
            sys.exit(f"bench-jdbc: {p} is missing: cargo build --release --bins --examples")
    redshift = redshift_jdbc_classpath()

    with tempfile.TemporaryDirectory(prefix="bench-jdbc-") as tmp_s:
        tmp = Path(tmp_s)
        jar = build_wrapper_jar(tmp / "jar")
        classes = tmp / "classes"
        subprocess.run(["javac", "-d", str(classes), str(BENCH_SOURCE)], check=True, timeout=180)

        ca_cert, ca_key = tmp / "ca.pem", tmp / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-sha256",
                 "-subj", "/CN=bench-jdbc CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        cert, key = Pki(tmp, ca_cert, ca_key).server_cert("server", "IP:127.0.0.1,DNS:localhost")
        store = make_truststore(ca_cert, tmp / "truststore.p12")

        children: list[Child] = []
        try:
            standin = Child([str(STANDIN), "--max-seconds", "900", "--log", str(tmp / "aws.jsonl")],
                            tmp, "aws-standin")
            children.append(standin)
            endpoint = standin.first_line()
            warmup = max(20, args.rounds // 10)
            wire = Child([sys.executable, str(WIRE_SERVER), "--cert", str(cert), "--key", str(key),
                          "--report", str(tmp / "wire.json"), "--max-seconds", "900",
                          "--max-connections", str(2 * (args.rounds + warmup) + 10)], tmp, "wire")
            children.append(wire)
            port = int(wire.first_line())

            home = tmp / "home"
            home.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                       AWS_ACCESS_KEY_ID="AKIDBENCHJDBC", AWS_SECRET_ACCESS_KEY="bench-secret",
                       AWS_SESSION_TOKEN="bench-session", AWS_ENDPOINT_URL=endpoint,
                       AWS_CONFIG_FILE=str(home / "none"), AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
                       AWS_EC2_METADATA_DISABLED="true", REDSHIFT_IDC_TOKEN_BIN=str(BIN))
            exe = [str(BIN), "--format=jdbc", "--timeout=30", "--cluster-id=mycluster",
                   "--region=us-east-1"]
            subprocess.run(exe, env=env, check=True, capture_output=True, timeout=60)  # fill the cache

            props = ["ssl=true", "sslmode=verify-full", f"ssltruststorepath={store}",
                     "ClusterID=mycluster", "Region=us-east-1"]
            argv = ["java", "-cp", os.pathsep.join([str(jar), redshift, str(classes)]),
                    "JdbcConnectBench", str(args.rounds),
                    f"jdbc:redshift://localhost:{port}/dev", f"jdbc:redshift-idc://localhost:{port}/dev",
                    *exe, "--", *props]
            started = time.monotonic()
            out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True,
                                 timeout=1800)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            requests = len((tmp / "aws.jsonl").read_text().splitlines())
        finally:
            for c in children:
                c.stop()

    diff = r["wrapper_ms"] - r["static_ms"]
    lines = [
        f"JDBC connect, {r['rounds']} rounds of each kind interleaved in one JVM (Java "
        f"{r['java']}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}), "
        f"{time.monotonic() - started:.0f} s; AWS requests: {requests} (the priming run)",
        "",
        "| measurement | median |",
        "| --- | --- |",
        f"| connect, static token (`jdbc:redshift://`, the floor) | {r['static_ms']:.2f} ms |",
        f"| connect through the wrapper, cache hit (`jdbc:redshift-idc://`) | {r['wrapper_ms']:.2f} ms |",
        f"| the wrapper's share (difference) | {diff:.2f} ms ({r['wrapper_ms'] / r['static_ms']:.2f}x the static connect) |",
        f"| the executable alone, started from Java (cache hit) | {r['exec_hit_ms']:.2f} ms |",
        f"| `/bin/true` started from Java (process-start floor) | {r['exec_true_ms']:.2f} ms |",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
