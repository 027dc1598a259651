"""Access-token mode against the drivers' own BrowserIdcAuthPlugin: browser windows and time for
a pool of connections, in one run; and what one cache hit costs against /bin/true.

Why it exists: docs/performance.md says that access-token mode signs the person in once for
every connection, where the drivers' ``BrowserIdcAuthPlugin`` opens a browser window for every
connection. This measures both sides against the same local stand-ins instead of claiming it:

  ours      for N in --connections (default 16 and 100), through the JDBC wrapper (JdbcProbe:
            N threads of one JVM, the real Redshift JDBC driver 2.2.6) and through the Python
            provider (N threads of redshift_connector 2.2.0): an empty cache, one
            `redshift-idc-token login` in headless Chromium, then the N connections at once,
            each running the executable (verify-full TLS to the wire stand-in, `select 1`).
            Counted: browser windows (scripts/headless-browser's log), and RegisterClient,
            /authorize and CreateToken at the Identity Center stand-in; timed: the sign-in
            and the connections.
  drivers'  redshift_connector's own BrowserIdcAuthPlugin, really run for --plugin-connections
            connections (default 4) through ``redshift_connector.connect`` against the same
            stand-ins, with the same headless Chromium as the system browser (``BROWSER``):
            each connection makes a new plugin, so RegisterClient, a browser window, the
            person's /authorize and CreateToken, one after another (every connection listens
            on the same listen_port, so they cannot overlap). Its per-connection time is
            measured; for 16 and 100 connections it is modelled as N times that, with the
            calls counted per connection. The JDBC driver's plugin (read from its source,
            aws/amazon-redshift-jdbc-driver, plugin/BrowserIdcAuthPlugin.java) keeps the
            RegisterClient in a static map per JVM but opens the browser and calls CreateToken
            for every connection (CommonCredentialsProvider: token cache disabled); it is
            modelled the same way with one RegisterClient. Headless Chromium answers the page
            at once: a person reading and clicking takes seconds more per window.
  hit       one `redshift-idc-token --format jdbc` in access-token mode served from the cache,
            against /bin/true, with farm-bench (paired runs, the ratio of medians).

The driver's plugin builds the /authorize URL from the region (https://oidc.REGION.amazonaws.com),
which cannot be pointed at a stand-in: the BROWSER command is a two-line shim that replaces that
origin by the stand-in's before it starts scripts/headless-browser (as a hosts-file entry
would). Its sso-oidc calls reach the stand-in through AWS_ENDPOINT_URL_SSO_OIDC (boto3).

Run it through scripts/bench-access.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from conftest import PACKAGE_SRC, WIRE_SERVER, Child, Pki, _openssl  # noqa: E402
from jdbc_support import build_wrapper_jar, make_truststore, redshift_jdbc_classpath  # noqa: E402

PROBE_SOURCE = REPO / "tests" / "e2e" / "jdbc" / "JdbcProbe.java"
HEADLESS_BROWSER = REPO / "scripts" / "headless-browser"
ISSUER_URL = "https://identitycenter.amazonaws.com/ssoins-7223ac1b2bc1e4f5"
PERSON = "bob"
CLUSTER_ID = "mycluster"


def log(msg: str) -> None:
    print(f"bench-access: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path):
        self.args = args
        self.tmp = tmp
        self.bin = Path(args.bin)
        self.children: list[Child] = []
        self.homes = 0

    # -- set-up --------------------------------------------------------------------------------
    def start(self, wire_connections: int) -> None:
        ca_cert, ca_key = self.tmp / "ca.pem", self.tmp / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-sha256",
                 "-subj", "/CN=bench-access CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.ca_cert = ca_cert
        cert, key = Pki(self.tmp, ca_cert, ca_key).server_cert("server", "IP:127.0.0.1,DNS:localhost")
        self.truststore = make_truststore(ca_cert, self.tmp / "truststore.p12")
        self.jar = build_wrapper_jar(self.tmp / "jar")
        classes = self.tmp / "classes"
        subprocess.run(["javac", "-d", str(classes), str(PROBE_SOURCE)], check=True, timeout=180)
        self.classpath = os.pathsep.join([str(self.jar), redshift_jdbc_classpath(), str(classes)])

        key_file = self.tmp / "access-token.key"
        key_file.write_text(os.urandom(24).hex() + "\n")
        self.redshift_log = self.tmp / "redshift.jsonl"
        standin = Child([self.args.standin, "--idc", "--idc-person", PERSON,
                         "--idc-access-token-key-file", str(key_file), "--log", str(self.redshift_log),
                         "--max-seconds", "3000", "--max-requests", "100000"], self.tmp, "aws-standin")
        self.children.append(standin)
        self.redshift_url = standin.first_line()
        deadline = time.monotonic() + 20
        while len(standin.stdout_path.read_text().splitlines()) < 2:
            if time.monotonic() > deadline:
                sys.exit(f"bench-access: the stand-in printed no Identity Center URL:\n{standin.stderr()}")
            time.sleep(0.02)
        self.idc_url = standin.stdout_path.read_text().splitlines()[1].strip()
        self.wire_report = self.tmp / "wire.json"
        wire = Child([sys.executable, str(WIRE_SERVER), "--cert", str(cert), "--key", str(key),
                      "--report", str(self.wire_report), "--max-connections", str(wire_connections),
                      "--max-seconds", "3000", "--access-token-key-file", str(key_file)],
                     self.tmp, "wire")
        self.children.append(wire)
        self.port = int(wire.first_line())
        # The drivers' plugin opens https://oidc.REGION.amazonaws.com/authorize?...: the shim
        # sends the browser to the stand-in's /authorize instead (see the module's docstring).
        self.shim = self.tmp / "browser-shim"
        self.shim.write_text(
            "#!/bin/sh\nfor a; do url=$a; done\n"
            f"exec {HEADLESS_BROWSER} \"$(printf %s \"$url\" | "
            f"sed 's#^https://oidc\\.us-east-1\\.amazonaws\\.com/#{self.idc_url}/#')\"\n")
        self.shim.chmod(0o755)

    def stop(self) -> None:
        for c in self.children:
            c.stop()

    # -- the stand-ins' records ----------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        import urllib.request
        with urllib.request.urlopen(f"{self.idc_url}/standin/counts", timeout=10) as r:
            ok = json.loads(r.read())["ok"]
        return {"RegisterClient": ok.get("RegisterClient", 0), "Authorize": ok.get("Authorize", 0),
                "CreateToken": ok.get("CreateToken", 0)}

    def wire_connections(self) -> list[dict[str, Any]]:
        return json.loads(self.wire_report.read_text())["connections"] if self.wire_report.exists() else []

    def check_sessions(self, before: int, n: int, plugin: str) -> None:
        deadline = time.monotonic() + 30
        while len(self.wire_connections()) < before + n:
            if time.monotonic() > deadline:
                sys.exit(f"bench-access: the wire stand-in reported {len(self.wire_connections()) - before} of {n} sessions")
            time.sleep(0.05)
        new = self.wire_connections()[before:before + n]
        bad = [c for c in new if not (c["outcome"] == "ok" and c["token_type"] == "ACCESS_TOKEN"
                                      and c["person"] == PERSON and c["plugin_name"] == plugin)]
        if bad:
            sys.exit(f"bench-access: sessions not opened as expected: {bad[0]}")

    # -- a person in access-token mode -----------------------------------------------------------
    def person_env(self) -> tuple[dict[str, str], Path]:
        self.homes += 1
        home = self.tmp / f"h{self.homes}"
        (home / "t").mkdir(parents=True)
        config = home / "config"
        config.write_text(f"[default]\nregion = us-east-1\nredshift_idc_issuer_url = {ISSUER_URL}\n"
                          "redshift_idc_region = us-east-1\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "REDSHIFT_IDC_TOKEN_", "HEADLESS_BROWSER_"))}
        env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TMPDIR=str(home / "t"),
                   AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
                   AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL=self.redshift_url,
                   AWS_ENDPOINT_URL_SSO_OIDC=self.idc_url, REDSHIFT_IDC_TOKEN_LISTEN_PORT="0",
                   REDSHIFT_IDC_TOKEN_BROWSER=str(HEADLESS_BROWSER),
                   HEADLESS_BROWSER_LOG=str(home / "browser.log"), SSL_CERT_FILE=str(self.ca_cert),
                   REDSHIFT_IDC_TOKEN_BIN=str(self.bin), REDSHIFT_IDC_TOKEN_EXECUTABLE=str(self.bin))
        return env, home

    @staticmethod
    def windows(home: Path) -> int:
        log_file = home / "browser.log"
        if not log_file.exists():
            return 0
        return sum(1 for line in log_file.read_text().splitlines() if line.startswith("open "))

    def ours(self, driver: str, n: int) -> dict[str, Any]:
        env, home = self.person_env()
        before_counts, before_sessions = self.counts(), len(self.wire_connections())
        t0 = time.perf_counter()
        login = subprocess.run([str(self.bin), "login"], env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=120)
        if login.returncode != 0:
            sys.exit(f"bench-access: login failed ({login.returncode}): {login.stderr.strip()}")
        t_login = time.perf_counter() - t0
        if driver == "jdbc":
            argv = ["java", "-cp", self.classpath, "JdbcProbe", "--connections", str(n),
                    f"jdbc:redshift-idc://localhost:{self.port}/dev?ClusterID={CLUSTER_ID}&Region=us-east-1",
                    "ssl=true", "sslmode=verify-full", f"ssltruststorepath={self.truststore}"]
            out = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=600)
            if out.returncode != 0:
                sys.exit(f"bench-access: JdbcProbe failed:\n{out.stderr[-2000:]}")
            results = json.loads(out.stdout)["results"]
            failures = [r["message"] for r in results if not r["ok"]]
            each = [r["ms"] / 1000 for r in results]
            plugin = "com.amazon.redshift.plugin.IdpTokenAuthPlugin"
        else:
            saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(env)
            try:
                with ThreadPoolExecutor(max_workers=n) as pool:
                    values = list(pool.map(lambda _: self.try_python_connect(
                        credentials_provider="redshift_idc_token.IdpTokenAuthPlugin",
                        cluster_identifier=CLUSTER_ID, region="us-east-1"), range(n)))
            finally:
                os.environ.clear()
                os.environ.update(saved)
            failures = [v for v, _ in values if v != 1]
            each = [t for _, t in values]
            plugin = "redshift_idc_token.IdpTokenAuthPlugin"
        total = time.perf_counter() - t0
        # Every connection that got past the executable opened a session as the person.
        self.check_sessions(before_sessions, n - len(failures), plugin)
        after = self.counts()
        for f in sorted(set(failures)):
            log(f"{driver}, {n} connections: {failures.count(f)} failed: {f}")
        return {"driver": driver, "n": n, "windows": self.windows(home), "login_s": t_login,
                "total_s": total, "each_median_s": statistics.median(each), "each_max_s": max(each),
                "failed": len(failures), "failure": failures[0] if failures else None,
                **{k: after[k] - before_counts[k] for k in after}}

    def try_python_connect(self, **kwargs: Any) -> tuple[Any, float]:
        """(1 or the error, seconds) of one connect."""
        t = time.perf_counter()
        try:
            return self.python_connect(**kwargs), time.perf_counter() - t
        except Exception as e:  # noqa: BLE001 - counted and reported, not hidden
            return f"{type(e).__name__}: {e}", time.perf_counter() - t

    def python_connect(self, **kwargs: Any) -> int:
        import redshift_connector
        conn = redshift_connector.connect(host="localhost", port=self.port, database="dev", ssl=True,
                                          sslmode="verify-full", timeout=60,
                                          application_name="bench-access", **kwargs)
        try:
            cur = conn.cursor()
            cur.execute("select 1")
            return cur.fetchall()[0][0]
        finally:
            conn.close()

    # -- the drivers' own BrowserIdcAuthPlugin, really run ---------------------------------------
    def drivers_plugin(self, n: int) -> dict[str, Any]:
        env, home = self.person_env()
        env.update(BROWSER=str(self.shim))
        listen_port = free_port()
        before_counts, before_sessions = self.counts(), len(self.wire_connections())
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        times = []
        try:
            for _ in range(n):
                t = time.perf_counter()
                value = self.python_connect(credentials_provider="BrowserIdcAuthPlugin",
                                            issuer_url=ISSUER_URL, idc_region="us-east-1",
                                            listen_port=listen_port, idp_response_timeout=60)
                times.append(time.perf_counter() - t)
                if value != 1:
                    sys.exit(f"bench-access: the drivers' plugin's connection returned {value}")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.check_sessions(before_sessions, n, "redshift_connector.plugin.BrowserIdcAuthPlugin")
        after = self.counts()
        return {"n": n, "windows": self.windows(home), "times": times,
                **{k: after[k] - before_counts[k] for k in after}}

    # -- a hit against /bin/true ---------------------------------------------------------------
    def hit(self) -> dict[str, Any]:
        env, home = self.person_env()
        subprocess.run([str(self.bin), "login"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True, timeout=120)
        cmd = [str(self.bin), "--cluster-id", CLUSTER_ID, "--format", "jdbc"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=60)
        if "token_type=ACCESS_TOKEN" not in out.stdout:
            sys.exit("bench-access: the hit did not print an access token")
        farm = shutil.which("farm-bench")
        if farm is None:
            sys.exit("bench-access: farm-bench is not on PATH")
        before = self.counts()
        proc = subprocess.run([farm, "-n", str(self.args.hit_runs), "--warmup", "5", "--timeout", "300",
                               "--vs", "/bin/true", "--", *cmd], env=env, capture_output=True,
                              text=True, timeout=400)
        if proc.returncode != 0:
            sys.exit(f"bench-access: farm-bench failed:\n{proc.stdout}{proc.stderr}")
        report = proc.stdout + proc.stderr
        if self.counts() != before:
            sys.exit("bench-access: a hit called Identity Center")

        def row(name: str) -> list[float]:
            m = re.search(rf"^{re.escape(name)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", report, re.M)
            if not m:
                sys.exit(f"bench-access: no '{name}' line in farm-bench's report:\n{report}")
            return [float(x) for x in m.groups()]

        runs = re.search(r"n: A (\d+), B (\d+)", report)
        return {"a_wall": row("A wall s"), "b_wall": row("B wall s"), "ratio": row("A/B wall"),
                "runs": runs.group(1) if runs else "?", "first_line": report.splitlines()[0],
                "report": report}


def shown(path: str) -> str:
    """`path` relative to the repository when it is inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else path


def machine() -> str:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.node()}, {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"load average {os.getloadavg()[0]:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the redshift-idc-token executable (release)")
    ap.add_argument("--standin", default=str(REPO / "target/debug/examples/aws-standin"))
    ap.add_argument("--connections", default="16,100", help="pool sizes, comma-separated")
    ap.add_argument("--plugin-connections", type=int, default=4,
                    help="connections really made with the drivers' BrowserIdcAuthPlugin")
    ap.add_argument("--hit-runs", type=int, default=100, help="farm-bench runs of the hit")
    ap.add_argument("--out", default=str(REPO / "bench" / "access" / "results.md"),
                    help="also write the Markdown here ('' for nowhere)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.connections.split(",")]
    for p in (args.bin, args.standin):
        if not Path(p).is_file():
            sys.exit(f"bench-access: {p} is missing")
    sys.path.insert(0, str(PACKAGE_SRC))  # redshift_idc_token.IdpTokenAuthPlugin

    started = time.monotonic()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = machine()
    # A short path: Chromium's singleton socket lives under TMPDIR and must fit 108 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="ba-", dir="/tmp"))
    bench = Bench(args, tmp)
    try:
        bench.start(2 * sum(sizes) + args.plugin_connections + 10)
        ours = []
        for n in sizes:
            for driver in ("jdbc", "python"):
                log(f"access-token mode, {driver}, {n} connections")
                ours.append(bench.ours(driver, n))
        log(f"the drivers' BrowserIdcAuthPlugin (redshift_connector), {args.plugin_connections} connections")
        plugin = bench.drivers_plugin(args.plugin_connections)
        log(f"a hit against /bin/true, {args.hit_runs} paired runs")
        hit = bench.hit()
    finally:
        bench.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    per = statistics.median(plugin["times"])
    calls = plugin["RegisterClient"], plugin["Authorize"], plugin["CreateToken"]
    lines = [
        f"{date}; {where}; bench took {time.monotonic() - started:.0f} s.",
        f"Executable: `{shown(args.bin)}`; stand-ins: `{shown(args.standin)} --idc` and the Redshift wire "
        "stand-in, on 127.0.0.1; browser: headless Chromium (scripts/headless-browser).",
        "",
        "| connections | way in | browser windows | RegisterClient / authorizations / CreateToken | "
        "sign-in | total (sign-in + connections) | one connection: median / slowest | sessions opened |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in ours:
        way = "JDBC wrapper (access-token mode)" if r["driver"] == "jdbc" else "Python provider (access-token mode)"
        lines.append(f"| {r['n']} | {way} | {r['windows']} | {r['RegisterClient']} / {r['Authorize']} / "
                     f"{r['CreateToken']} | {r['login_s']:.2f} s | {r['total_s']:.2f} s | "
                     f"{r['each_median_s']:.2f} s / {r['each_max_s']:.2f} s | {r['n'] - r['failed']} of {r['n']} |")
    lines.append(f"| {plugin['n']} (measured) | redshift_connector BrowserIdcAuthPlugin | {plugin['windows']} | "
                 f"{calls[0]} / {calls[1]} / {calls[2]} | every connection | {sum(plugin['times']):.2f} s "
                 f"(one after another) | {per:.2f} s / {max(plugin['times']):.2f} s | {plugin['n']} of {plugin['n']} |")
    for n in sizes:
        lines.append(f"| {n} (modelled: {n} x {per:.2f} s) | redshift_connector BrowserIdcAuthPlugin | {n} | "
                     f"{n} / {n} / {n} | every connection | {n * per:.1f} s | {per:.2f} s | |")
        lines.append(f"| {n} (modelled: {n} x {per:.2f} s) | Redshift JDBC BrowserIdcAuthPlugin | {n} | "
                     f"1 / {n} / {n} | every connection | {n * per:.1f} s | {per:.2f} s | |")
    for r in ours:
        if r["failure"]:
            lines += ["", f"{r['driver']}, {r['n']} connections: {r['failed']} failed; the first: "
                      f"`{r['failure']}`"]
    a, b, ratio = hit["a_wall"], hit["b_wall"], hit["ratio"]
    lines += [
        "",
        f"Hit in access-token mode (`redshift-idc-token --cluster-id {CLUSTER_ID} --format jdbc`, the "
        f"access token from the cache) against `/bin/true`, farm-bench, {hit['runs']} paired runs "
        f"(`{hit['first_line'].strip()}`):",
        "",
        "| measurement | min | median | max |",
        "| --- | --- | --- | --- |",
        f"| hit, wall | {a[0]:.3f} s | {a[1]:.3f} s | {a[2]:.3f} s |",
        f"| `/bin/true`, wall | {b[0]:.3f} s | {b[1]:.3f} s | {b[2]:.3f} s |",
        f"| ratio hit / `/bin/true` (paired) | {ratio[0]:.2f}x | {ratio[1]:.2f}x | {ratio[2]:.2f}x |",
        "",
        f"Target: the median ratio within 1.4x: {'met' if ratio[1] <= 1.4 else 'NOT met'}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0 if ratio[1] <= 1.4 else 1


if __name__ == "__main__":
    sys.exit(main())
