"""The Python provider against settings that would leak the token or run a program of the URL's choosing.

Why it exists: a SQLAlchemy URL's query becomes ``redshift_connector.connect()`` keyword
arguments, every value a string, so whoever writes the URL controls them. The provider must
decide on what the real driver will do with them (TLS only for ``ssl is True``, a verified
certificate only with ``sslmode`` verify-ca or verify-full) and must never take the program it
runs from them. Each case goes through the real ``redshift_connector.connect`` with the
provider, exactly as the dialect calls it, and the executable is a marker program: it must never
run. The table (hostile_settings.json) is shared with the JDBC wrapper's tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

import pytest
import redshift_connector

from conftest import E2E_DIR, PACKAGE_SRC, Pki, WireServer

HOSTILE = json.loads((E2E_DIR / "hostile_settings.json").read_text())["settings"]
PROVIDER = "redshift_idc_token.IdpTokenAuthPlugin"


@pytest.fixture
def marker_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The provider's executable (through the documented variable) and the URL's program: both
    leave a file behind if they run, and print a token the driver would send."""
    monkeypatch.syspath_prepend(str(PACKAGE_SRC))
    exe = tmp_path / "marker-program"
    exe.write_text(f"#!/bin/sh\ntouch '{tmp_path}/ran'\n"
                   "echo '{\"version\":1,\"token\":\"t\",\"token_type\":\"SUBJECT_TOKEN\"}'\n")
    exe.chmod(0o755)
    monkeypatch.setenv("REDSHIFT_IDC_TOKEN_EXECUTABLE", str(exe))
    return exe


def connect_with_url_query(query: str, program: Path) -> None:
    """What `redshift+redshift_connector://127.0.0.1:9/dev?QUERY` does: string kwargs laid over
    the dialect's defaults (sqlalchemy-redshift 1.0.0: ssl=True, sslmode=verify-full)."""
    kwargs: dict[str, Any] = {"ssl": True, "sslmode": "verify-full"}
    kwargs.update(parse_qsl(query.replace("PROGRAM", str(program))))
    redshift_connector.connect(host="127.0.0.1", port=9, database="dev", cluster_identifier="c",
                               region="us-east-1", credentials_provider=PROVIDER, timeout=2,
                               **kwargs)


REFUSED = [c for c in HOSTILE if c["python"] == "refused"]
VERIFIED = [c for c in HOSTILE if c["python"] == "verified"]


@pytest.mark.parametrize("case", REFUSED, ids=[c["query"] for c in REFUSED])
def test_hostile_setting_is_refused_before_anything_runs(case: dict[str, str], marker_program: Path,
                                                         tmp_path: Path) -> None:
    with pytest.raises(Exception) as excinfo:
        connect_with_url_query(case["query"], marker_program)
    assert case["names"] in str(excinfo.value), f"{excinfo.value!r} does not name the setting"
    assert not (tmp_path / "ran").exists(), f"a program ran although {case['why']}"


@pytest.mark.parametrize("query,says", [
    # A URL gives strings: the driver does TLS only for the bool True, so "true" is clear text.
    ("ssl=true", "ssl='true' (a str)"),
    ("ssl=1", "ssl='1' (a str)"),
])
def test_values_that_only_look_safe_are_refused(marker_program: Path, tmp_path: Path, query: str,
                                                says: str) -> None:
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        connect_with_url_query(query, marker_program)
    assert says in str(excinfo.value)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("case", VERIFIED + [{"query": ""}], ids=[c["query"] for c in VERIFIED] + ["no sslmode"])
def test_the_token_goes_only_to_a_server_whose_certificate_names_the_host(
        case: dict[str, str], marker_program: Path, tmp_path: Path, pki: Pki,
        trust_test_ca: Path, start_wire_server: Callable[..., WireServer]) -> None:
    """redshift_connector answers an sslmode it does not know (and no sslmode at all) with a
    'defaulted' verify-full that only warns when the certificate names another host: any
    certificate from any trusted CA would then get the token. The provider makes it strict."""
    other_host = pki.server_cert("other-host", "DNS:other.example")
    server = start_wire_server(cert=other_host)
    kwargs = dict(parse_qsl(case["query"]))
    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="127.0.0.1", port=server.port, database="dev",
                                   cluster_identifier="c", region="us-east-1",
                                   credentials_provider=PROVIDER, timeout=10, **kwargs)
    assert "certificate" in repr(excinfo.value).lower() or "hostname" in repr(excinfo.value).lower(), excinfo.value
    report = server.finish()
    assert all(c.get("token") is None for c in report["connections"]), report


def test_verified_tls_settings_reach_the_executable(marker_program: Path, tmp_path: Path) -> None:
    """The control: with ssl=True and either verifying mode the provider runs its executable
    (the driver then fails on the closed port, after the token was fetched)."""
    for mode in ("verify-ca", "verify-full"):
        with pytest.raises(redshift_connector.InterfaceError) as excinfo:
            connect_with_url_query(f"sslmode={mode}", marker_program)
        assert "Connection refused" in str(excinfo.value), excinfo.value
        assert (tmp_path / "ran").exists(), mode
        os.unlink(tmp_path / "ran")
