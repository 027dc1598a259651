"""Protocol-level tests of redshift_wire_server.py with a hand-written client.

Why it exists: the driver tests exercise the path redshift_connector takes (bare token in the
'i' message, extended query protocol). Other clients of the stand-in behave differently: the
JDBC driver ends the token with a NUL, and tools use the simple Query message. This raw client
covers those paths and the refusals (no TLS, another idp_type), so the stand-in can be trusted
when a driver test passes or fails.
"""

from __future__ import annotations

import socket
import ssl
import struct
from pathlib import Path

import pytest

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
