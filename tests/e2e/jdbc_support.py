"""The JDBC pieces the wrapper tests and the JDBC benchmark share.

Why it exists: both need the real Amazon Redshift JDBC driver (found, never silently missing),
the wrapper jar built exactly as the release bundle builds it, and a trust store for the test
CA that the driver can open; this module is the one copy of each.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
JDBC_DIR = REPO_ROOT / "plugin-config" / "jdbc"

HOW_TO_GET_THE_DRIVER = (
    "The Amazon Redshift JDBC driver is needed. Set REDSHIFT_JDBC_CLASSPATH to its jar and its "
    "dependencies (a Java class path), or put them in ../shared/jdbc next to the repository "
    "(redshift-jdbc42-2.2.6.jar plus lib/*.jar). On a machine that reaches Maven Central: "
    "mvn dependency:copy -Dartifact=com.amazon.redshift:redshift-jdbc42:2.2.6 "
    "-DoutputDirectory=../shared/jdbc (and its dependencies into ../shared/jdbc/lib).")


class DriverNotFound(Exception):
    """Neither REDSHIFT_JDBC_CLASSPATH nor ../shared/jdbc provides the Redshift driver."""


def shared_jdbc_dirs() -> list[Path]:
    """../shared/jdbc relative to this checkout, and to the main checkout if this is a worktree."""
    roots = [REPO_ROOT]
    proc = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--path-format=absolute",
                           "--git-common-dir"], capture_output=True, text=True, timeout=30)
    if proc.returncode == 0 and proc.stdout.strip():
        roots.append(Path(proc.stdout.strip()).parent)
    return list(dict.fromkeys(r.parent / "shared" / "jdbc" for r in roots))


def redshift_jdbc_classpath() -> str:
    """The Redshift driver's class path: REDSHIFT_JDBC_CLASSPATH, else ../shared/jdbc."""
    explicit = os.environ.get("REDSHIFT_JDBC_CLASSPATH")
    if explicit:
        return explicit
    for d in shared_jdbc_dirs():
        jars = sorted(d.glob("redshift-jdbc42-*.jar"))
        if jars:
            return os.pathsep.join(str(p) for p in [jars[-1], *sorted((d / "lib").glob("*.jar"))])
    tried = ", ".join(str(d) for d in shared_jdbc_dirs())
    raise DriverNotFound(f"{HOW_TO_GET_THE_DRIVER} (looked in: {tried})")


def build_wrapper_jar(out: Path) -> Path:
    """Runs plugin-config/jdbc/build as the release bundle does: its last line is the jar."""
    proc = subprocess.run([str(JDBC_DIR / "build"), str(out)], capture_output=True, text=True,
                          timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"plugin-config/jdbc/build failed:\n{proc.stderr}")
    jar = Path(proc.stdout.strip().splitlines()[-1])
    if not (jar.is_file() and jar.parent == out.resolve()):
        raise RuntimeError(f"plugin-config/jdbc/build did not end with the jar's path:\n{proc.stdout}")
    return jar


def make_truststore(ca_cert: Path, store: Path) -> Path:
    """A PKCS12 trust store holding `ca_cert`, with no password.

    The Redshift driver passes its `ssltruststore ` property (with a trailing space) as the
    password, so a store that needs one cannot be opened; keytool writes an unprotected one when
    certificate protection and the integrity MAC are turned off.
    """
    if not store.exists():
        proc = subprocess.run(
            ["keytool", "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
             "-J-Dkeystore.pkcs12.macAlgorithm=NONE", "-importcert", "-noprompt", "-alias", "test-ca",
             "-file", str(ca_cert), "-keystore", str(store), "-storetype", "PKCS12",
             "-storepass", "unused-no-mac"], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"keytool failed: {proc.stdout}{proc.stderr}")
    return store
