"""End to end: the token `redshift-idc-token` prints reaches a Redshift server through the real driver.

Why it exists: unit and integration tests check what the executable prints; only this suite
shows that the output works with the actual `redshift_connector` package from PyPI. The chain
under test is

    AWS stand-in (GetIdentityCenterAuthToken)  ->  redshift-idc-token --format python
        ->  redshift_connector.connect(**kwargs, ssl=True, sslmode=verify-full|verify-ca)
        ->  TLS (server certificate verified against a CA made for the test)
        ->  Redshift wire stand-in: AuthenticationRequest 14, the 'i' token message, `select 1`

and the assertions compare the token the AWS stand-in logged as issued with the token the wire
server received, byte for byte. The other way in, the driver running the executable itself
through ``credentials_provider="redshift_idc_token.IdpTokenAuthPlugin"``, is proven through the
installed wheel in wheel/test_wheel_e2e.py.
"""

from __future__ import annotations

import json
import ssl
import sys
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
import redshift_connector

from conftest import ACCESS_KEY_ID, CLUSTER_ID, REGION, SCHEMA_PATH, Pki, Rit, WireServer

DRIVER_TIMEOUT = 15  # socket timeout for the driver, seconds
PYTHON_FORMAT_KEYS = {"credentials_provider", "token", "token_type"}


def fetch_python_kwargs(rit: Rit) -> dict[str, str]:
    """Runs `--format python` and checks it against the AWS stand-in's log."""
    kwargs = rit.json_doc("python")
    assert set(kwargs) == PYTHON_FORMAT_KEYS
    assert kwargs["credentials_provider"] == "IdpTokenAuthPlugin"
    assert kwargs["token_type"] == "SUBJECT_TOKEN"
    assert rit.standin.issued_tokens() == [kwargs["token"]], "printed token is not the one AWS issued"
    return kwargs


def assert_standin_saw_one_good_request(rit: Rit) -> None:
    (req,) = rit.standin.requests()
    assert req["service"] == "redshift"
    assert req["targets"] == [CLUSTER_ID]
    assert req["access_key_id"] == ACCESS_KEY_ID
    assert req["region"] == REGION
    assert req["signing_service"] == "redshift"
    assert req["has_security_token"] is True
    assert req["problems"] == []


def select_one(conn) -> int:
    cur = conn.cursor()
    cur.execute("select 1")
    rows = cur.fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def ssl_cause(exc: BaseException) -> ssl.SSLError:
    """The TLS error behind the driver's InterfaceError("communication error", <OSError>)."""
    cause = exc.args[1] if len(exc.args) > 1 else exc.__context__
    assert isinstance(cause, ssl.SSLError), f"expected a TLS failure, got {exc!r}"
    return cause


def assert_authenticated_with(server: WireServer, token: str) -> dict:
    report = server.finish()
    (conn,) = report["connections"]
    assert conn["outcome"] == "ok", conn["error"]
    assert conn["token"] == token, "the server did not receive exactly the token AWS issued"
    assert conn["token_type"] == "SUBJECT_TOKEN"
    assert conn["idp_type"] == "AwsIdc"
    assert conn["tls"] is not None and conn["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert "select 1" in conn["queries"]
    return conn


@pytest.mark.parametrize(
    "host,sslmode",
    [("localhost", "verify-full"), ("127.0.0.1", "verify-full"), ("127.0.0.1", "verify-ca")],
)
def test_token_reaches_server_through_redshift_connector(
        rit: Rit, start_wire_server, trust_test_ca: Path, host: str, sslmode: str) -> None:
    kwargs = fetch_python_kwargs(rit)
    assert_standin_saw_one_good_request(rit)
    server = start_wire_server(expect_token=kwargs["token"])

    conn = redshift_connector.connect(host=host, port=server.port, database="dev", ssl=True,
                                      sslmode=sslmode, timeout=DRIVER_TIMEOUT, **kwargs)
    try:
        assert select_one(conn) == 1
    finally:
        conn.close()

    seen = assert_authenticated_with(server, kwargs["token"])
    params = seen["startup_params"]
    assert params["plugin_name"] == "redshift_connector.plugin.IdpTokenAuthPlugin"
    assert params["database"] == "dev"
    assert seen["token_had_nul"] is False  # redshift_connector sends the bare token


def test_rejected_token_gives_a_clear_error(rit: Rit, start_wire_server, trust_test_ca: Path) -> None:
    kwargs = fetch_python_kwargs(rit)
    server = start_wire_server(expect_token="some-other-token")

    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=server.port, database="dev", ssl=True,
                                   sslmode="verify-full", timeout=DRIVER_TIMEOUT, **kwargs)
    text = str(excinfo.value)
    assert "IdC token rejected" in text
    assert "28000" in text

    (conn,) = server.finish()["connections"]
    assert conn["outcome"] == "rejected"
    assert conn["token"] == kwargs["token"]


@pytest.mark.parametrize("sslmode", ["verify-ca", "verify-full"])
def test_token_is_not_sent_to_an_untrusted_server(
        rit: Rit, start_wire_server, monkeypatch: pytest.MonkeyPatch, sslmode: str) -> None:
    """Without the test CA in the trust store the handshake must fail before the token is sent."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    kwargs = fetch_python_kwargs(rit)
    server = start_wire_server(expect_token=kwargs["token"])

    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=server.port, database="dev", ssl=True,
                                   sslmode=sslmode, timeout=DRIVER_TIMEOUT, **kwargs)
    cause = ssl_cause(excinfo.value)
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert "unable to get local issuer certificate" in str(cause)

    (conn,) = server.finish()["connections"]
    assert conn["token"] is None and conn["startup_params"] is None


def test_verify_full_checks_the_host_name(
        rit: Rit, start_wire_server, trust_test_ca: Path, pki: Pki) -> None:
    """A certificate from the trusted CA but for another name passes verify-ca, not verify-full."""
    wrong_name = pki.server_cert("wrong-name", "DNS:other.example")
    kwargs = fetch_python_kwargs(rit)
    server = start_wire_server(expect_token=kwargs["token"], cert=wrong_name, max_connections=2)

    with pytest.raises(redshift_connector.InterfaceError) as excinfo:
        redshift_connector.connect(host="localhost", port=server.port, database="dev", ssl=True,
                                   sslmode="verify-full", timeout=DRIVER_TIMEOUT, **kwargs)
    cause = ssl_cause(excinfo.value)
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(cause)

    conn = redshift_connector.connect(host="localhost", port=server.port, database="dev", ssl=True,
                                      sslmode="verify-ca", timeout=DRIVER_TIMEOUT, **kwargs)
    try:
        assert select_one(conn) == 1
    finally:
        conn.close()

    first, second = server.finish()["connections"]
    assert first["token"] is None
    assert second["outcome"] == "ok" and second["token"] == kwargs["token"]


def test_json_format_matches_the_schema(rit: Rit) -> None:
    doc = rit.json_doc("json")
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, "\n".join(e.message for e in errors)

    assert rit.standin.issued_tokens() == [doc["token"]]
    assert doc["source"] == "aws"
    assert doc["service"] == "redshift"
    assert doc["targets"] == [CLUSTER_ID]
    # jsonschema checks "date-time" only with optional packages; check RFC 3339 UTC here.
    if doc["expiration"] is not None:
        assert doc["expiration"].endswith("Z")
        expires = datetime.fromisoformat(doc["expiration"])
        assert expires.tzinfo is not None and expires.utcoffset() == timezone.utc.utcoffset(None)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
