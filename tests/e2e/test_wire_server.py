"""Protocol-level tests of redshift_wire_server.py with a hand-written client.

Why it exists: the driver tests exercise the path redshift_connector takes (bare token in the
'i' message, extended query protocol). Other clients of the stand-in behave differently: the
JDBC driver ends the token with a NUL, and tools use the simple Query message. This raw client
covers those paths and the refusals (no TLS, another idp_type), so the stand-in can be trusted
when a driver test passes or fails. The ACCESS_TOKEN tests get their tokens from the real
Identity Center stand-in (aws-standin --idc) through boto3, as BrowserIdcAuthPlugin does.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import socket
import ssl
import struct
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from conftest import Child

TOKEN = "jdbc-style.token+/="


class RawClient:
    def __init__(self, port: int, ca: Path | None):
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ca = ca

    def start_tls(self) -> None:
        self.sock.sendall(struct.pack("!ii", 8, 80877103))
        assert self.sock.recv(1) == b"S"
        ctx = ssl.create_default_context(cafile=str(self.ca))
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def startup(self, **params: str) -> None:
        body = struct.pack("!i", 196608)
        for k, v in params.items():
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)

    def send(self, code: bytes, payload: bytes) -> None:
        self.sock.sendall(code + struct.pack("!i", len(payload) + 4) + payload)

    def recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "server closed the connection"
            data += chunk
        return data

    def read(self) -> tuple[bytes, bytes]:
        code = self.recv_exact(1)
        (length,) = struct.unpack("!i", self.recv_exact(4))
        return code, self.recv_exact(length - 4)

    def read_until(self, last: bytes) -> list[tuple[bytes, bytes]]:
        msgs = []
        while True:
            msgs.append(self.read())
            if msgs[-1][0] in (last, b"E"):
                return msgs

    def close(self) -> None:
        self.sock.close()


def error_fields(body: bytes) -> dict[str, str]:
    return {f[:1].decode(): f[1:].decode() for f in body.split(b"\0") if f}


def idc_params(**extra: str) -> dict[str, str]:
    return dict(user="", database="dev", plugin_name="com.amazon.redshift.plugin.IdpTokenAuthPlugin",
                idp_type="AwsIdc", token_type="SUBJECT_TOKEN", **extra)


def signed_in(server, pki, token: bytes) -> tuple[RawClient, list[tuple[bytes, bytes]]]:
    """A client past TLS, the startup message, request 14 and the 'i' message with `token`;
    returns it with the server's answer up to ReadyForQuery."""
    c = RawClient(server.port, pki.ca_cert)
    c.start_tls()
    c.startup(**idc_params())
    assert c.read() == (b"R", struct.pack("!i", 14))
    c.send(b"i", token)
    return c, c.read_until(b"Z")


def test_jdbc_style_token_with_nul_and_simple_query(start_wire_server, pki) -> None:
    server = start_wire_server(expect_token=TOKEN)
    c, msgs = signed_in(server, pki, TOKEN.encode() + b"\0")
    codes = [m[0] for m in msgs]
    assert codes[0] == b"R" and msgs[0][1] == struct.pack("!i", 0)
    status = dict(m[1][:-1].split(b"\0", 1) for m in msgs if m[0] == b"S")
    assert status[b"client_encoding"] == b"UTF8"
    assert b"server_version" in status and b"DateStyle" in status
    assert b"server_protocol_version" not in status  # not requested by this client
    assert b"K" in codes and codes[-1] == b"Z" and msgs[-1][1] == b"I"

    c.send(b"Q", b"select 1\0")
    msgs = c.read_until(b"Z")
    assert [m[0] for m in msgs] == [b"T", b"D", b"C", b"Z"]
    assert msgs[1][1] == struct.pack("!hi", 1, 1) + b"1"  # one text column "1"
    assert msgs[2][1] == b"SELECT 1\0"

    c.send(b"Q", b"drop table users\0")
    msgs = c.read_until(b"Z")
    assert msgs[0][0] == b"E" and error_fields(msgs[0][1])["C"] == "0A000"
    c.send(b"X", b"")
    c.close()

    (conn,) = server.finish()["connections"]
    assert conn["outcome"] == "ok"
    assert conn["token"] == TOKEN
    assert conn["token_had_nul"] is True
    assert conn["startup_params"]["plugin_name"] == "com.amazon.redshift.plugin.IdpTokenAuthPlugin"
    assert conn["queries"] == ["select 1", "drop table users"]


def test_sqlalchemy_dialect_queries_get_one_text_column(start_wire_server, pki) -> None:
    server = start_wire_server(expect_token=TOKEN)
    c, _ = signed_in(server, pki, TOKEN.encode())

    c.send(b"Q", b"SELECT  current_schema()\0")
    msgs = c.read_until(b"Z")
    assert [m[0] for m in msgs] == [b"T", b"D", b"C", b"Z"]
    (oid,) = struct.unpack_from("!i", msgs[0][1], 2 + len(b"current_schema\0") + 6)
    assert oid == 25  # text
    assert msgs[1][1] == struct.pack("!hi", 1, 6) + b"public"
    c.send(b"X", b"")
    c.close()
    assert server.finish()["connections"][0]["queries"] == ["SELECT  current_schema()"]


def test_plain_text_connection_is_refused(start_wire_server) -> None:
    server = start_wire_server()
    c = RawClient(server.port, None)
    c.startup(**idc_params())
    code, body = c.read()
    assert code == b"E" and error_fields(body)["C"] == "28000"
    c.close()
    (conn,) = server.finish()["connections"]
    assert conn["outcome"] == "error" and conn["token"] is None


@pytest.mark.parametrize("params,message", [
    (dict(user="alice", database="dev"), "idp_type"),
    (dict(user="", database="dev", idp_type="AwsIdc"), None),
])
def test_refusals(start_wire_server, pki, params, message) -> None:
    server = start_wire_server()
    c = RawClient(server.port, pki.ca_cert)
    c.start_tls()
    c.startup(**params)
    code, body = c.read()
    if message is None:  # no token_type: the token is read, then refused
        assert (code, body) == (b"R", struct.pack("!i", 14))
        c.send(b"i", b"tok")
        code, body = c.read()
    fields = error_fields(body)
    assert code == b"E" and fields["S"] == "FATAL" and fields["C"] == "28000"
    if message:
        assert message in fields["M"]
    c.close()
    (conn,) = server.finish()["connections"]
    assert conn["outcome"] == "rejected"


def test_server_exits_after_max_seconds(start_wire_server) -> None:
    server = start_wire_server(max_seconds=0.5)
    report = server.finish(timeout=10)
    assert report["connections"] == []


# -- token_type=ACCESS_TOKEN: only access tokens the Identity Center stand-in issued ------------

ACCESS_KEY = "wire-server-test-access-token-key-0123456789"


def _ok(msgs: list[tuple[bytes, bytes]]) -> bool:
    return msgs[0] == (b"R", struct.pack("!i", 0))


def access_client(server, pki, token: str, token_type: str = "ACCESS_TOKEN") -> list[tuple[bytes, bytes]]:
    """Signs in as the drivers' BrowserIdcAuthPlugin does; returns the answer up to Z or E."""
    c = RawClient(server.port, pki.ca_cert)
    c.start_tls()
    c.startup(user="", database="dev", plugin_name="com.amazon.redshift.plugin.BrowserIdcAuthPlugin",
              idp_type="AwsIdc", token_type=token_type)
    assert c.read() == (b"R", struct.pack("!i", 14))
    c.send(b"i", token.encode())
    msgs = c.read_until(b"Z")
    if _ok(msgs):
        c.send(b"X", b"")
    c.close()
    return msgs


@pytest.fixture
def idc(rit_standin, tmp_path, children):
    """The Identity Center stand-in (aws-standin --idc), signing access tokens with ACCESS_KEY,
    whose tokens live 2 s; returns (URL, key file)."""
    key_file = tmp_path / "access-token.key"
    key_file.write_text(ACCESS_KEY + "\n")
    child = Child([str(rit_standin), "--idc", "--idc-person", "bob", "--idc-access-ttl", "2",
                   "--idc-access-token-key-file", str(key_file), "--max-seconds", "60"],
                  tmp_path, "idc-standin")
    children.append(child)
    child.first_line()
    deadline = time.monotonic() + 10
    while len(child.stdout_path.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline, child.stderr()
        time.sleep(0.02)
    return child.stdout_path.read_text().splitlines()[1], key_file


def browser_idc_access_token(idc_url: str, scopes: list[str]) -> str:
    """What BrowserIdcAuthPlugin does, with boto3 against the stand-in: RegisterClient, the
    browser's /authorize (page, its form, the redirect), CreateToken with the code verifier."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    oidc = boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=idc_url,
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
    redirect = "http://127.0.0.1:7890"
    reg = oidc.register_client(
        clientName="Amazon Redshift Python connector", clientType="public", scopes=scopes,
        issuerUrl="https://identitycenter.amazonaws.com/ssoins-7223ac1b2bc1e4f5",
        redirectUris=[redirect], grantTypes=["authorization_code", "refresh_token"])
    verifier = base64.urlsafe_b64encode(os.urandom(40)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    host = urlsplit(idc_url).netloc
    query = urlencode({"response_type": "code", "client_id": reg["clientId"], "redirect_uri": redirect,
                       "state": "st", "scopes": " ".join(scopes), "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request("GET", f"/authorize?{query}")
    page = conn.getresponse().read().decode()
    session = re.search(r'name="session" value="([^"]+)"', page).group(1)
    conn.request("POST", "/authorize/approve", body=f"session={session}",
                 headers={"content-type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    code = parse_qs(urlsplit(answer.getheader("location")).query)["code"][0]
    conn.close()
    token = oidc.create_token(clientId=reg["clientId"], clientSecret=reg["clientSecret"],
                              grantType="authorization_code", code=code, codeVerifier=verifier,
                              redirectUri=redirect)
    assert token["expiresIn"] == 2 and token["refreshToken"]
    return token["accessToken"]


def test_access_token_of_the_identity_center_standin_names_its_person(start_wire_server, pki, idc) -> None:
    idc_url, key_file = idc
    server = start_wire_server(access_token_key_file=key_file, max_connections=5)
    token = browser_idc_access_token(idc_url, ["redshift:connect"])
    assert _ok(access_client(server, pki, token))

    header, claims, signature = token.split(".")
    forged_claims = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(claims + "==").replace(b'"bob"', b'"eve"')).rstrip(b"=").decode()
    refusals = {
        "bad signature": f"{header}.{forged_claims}.{signature}",
        "not a signed JWT": "opaque-token-from-elsewhere",
    }
    for why, bad in refusals.items():
        (code, body), = access_client(server, pki, bad)
        fields = error_fields(body)
        assert code == b"E" and fields["C"] == "28000" and why in fields["M"], fields
    no_scope = browser_idc_access_token(idc_url, ["openid"])
    (code, body), = access_client(server, pki, no_scope)
    assert "lacks the redshift:connect scope" in error_fields(body)["M"]
    time.sleep(2.1)  # the tokens' 2 s are over
    (code, body), = access_client(server, pki, token)
    assert "expired" in error_fields(body)["M"]

    conns = server.finish()["connections"]
    assert [c["outcome"] for c in conns] == ["ok", "rejected", "rejected", "rejected", "rejected"]
    assert conns[0]["person"] == "bob" and conns[0]["token_type"] == "ACCESS_TOKEN"
    assert conns[0]["user_id"] and conns[0]["user_id"] != "bob"
    assert all(c["person"] is None for c in conns[1:])


def test_access_token_is_refused_without_the_key_and_subject_tokens_are_unchanged(
        start_wire_server, pki, idc) -> None:
    idc_url, _ = idc
    token = browser_idc_access_token(idc_url, ["redshift:connect"])
    server = start_wire_server(max_connections=2)
    (code, body), = access_client(server, pki, token)
    assert "without --access-token-key-file" in error_fields(body)["M"]
    # SUBJECT_TOKEN as before: any token; the AWS stand-in's own tokens name their person.
    assert _ok(access_client(server, pki, "idc.rs.us-east-1.ASIABOB0001.c1.1.00ff", "SUBJECT_TOKEN"))
    conns = server.finish()["connections"]
    assert [c["outcome"] for c in conns] == ["rejected", "ok"]
    assert conns[1]["person"] == "bob"
