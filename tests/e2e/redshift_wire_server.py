#!/usr/bin/env python3
"""A local stand-in for an Amazon Redshift endpoint, speaking the PostgreSQL v3 wire protocol.

Why it exists: the end-to-end tests must prove that the token `redshift-idc-token` prints
really reaches a Redshift server through the real `redshift_connector` driver, over TLS with
certificate verification on. No Redshift cluster is reachable from here, so this program plays
the server side of exactly the exchange the driver performs for IAM Identity Center (IdC):

  1. SSLRequest (Int32 8, Int32 80877103)  ->  'S', then a TLS handshake with --cert/--key.
  2. StartupMessage (protocol 3.0) with parameters such as user, database, plugin_name,
     idp_type=AwsIdc, token_type=SUBJECT_TOKEN; all of them are recorded.
  3. AuthenticationRequest code 14 (Redshift "native IdP / IdC token" authentication).
  4. The client's 'i' message carrying the token: Byte1('i'), Int32 length (including
     itself), then the UTF-8 token. redshift_connector sends the token with no trailing NUL,
     the JDBC driver with one; both are accepted, and the token is recorded without it.
  5. Either AuthenticationOk, ParameterStatus x N, BackendKeyData, ReadyForQuery, and then
     queries (`select <integer>` and `select pg_backend_pid()` answered with one int4 column,
     the few text queries SQLAlchemy's dialect sends on connect with one text column;
     BEGIN/COMMIT/ROLLBACK/SET
     acknowledged) over the extended protocol (Parse/Bind/Describe/Execute/Sync) or the simple
     Query message; or, when --expect-token-file is given and the token differs, an
     ErrorResponse (FATAL, SQLSTATE 28000, "IdC token rejected ...") and the connection closes.

Token types. `token_type=ACCESS_TOKEN` (what the drivers' BrowserIdcAuthPlugin sends with an
Identity Center access token) is accepted only for an access token the Identity Center stand-in
(tests/support/idc_standin.rs) issued and that has not expired, checked with no network: the
stand-in signs its access tokens as HS256 JWTs (claims `username` = the test person, `sub` = their
Identity Store user id, `scope`, `exp`, `token_use=access`) with a key the test gives both
programs (`aws-standin --idc-access-token-key-file F` and `--access-token-key-file F` here: the
file's content, trailing whitespace removed, as bytes). The token must carry the
`redshift:connect` scope, as Redshift requires of Identity Center access tokens. Anything else is
refused with ErrorResponse FATAL 28000 "IdC token rejected: ...". The connection's report entry
then names the person (`person`, `user_id`). Every other token type (SUBJECT_TOKEN, EXT_JWT) is
treated as before: any non-empty token, or exactly --expect-token-file's; for a SUBJECT_TOKEN in
the AWS stand-in's self-describing form (`idc.rs.REGION.ASIAALICE0001....`) `person` is read from
its role access key id.

It is standard-library only, listens on 127.0.0.1 on an ephemeral port (printed as the first line
of stdout), serves at most --max-connections connections and exits after --max-seconds at the
latest. After every connection it rewrites the JSON report given by --report:

  {"port": P, "connections": [{"startup_params": {...}, "token": "...", "token_type": "...",
    "person": null|"alice", "user_id": null|"...",
    "idp_type": "...", "plugin_name": "...", "token_had_nul": false, "outcome": "ok"|"rejected"|
    "error", "error": null|"...", "tls": {"version": ..., "cipher": ...}, "queries": [...]}]}

Run: redshift_wire_server.py --cert server.pem --key server.key --report out.json
                             [--expect-token-file token.txt] [--access-token-key-file key.txt]
                             [--max-connections 1] [--max-seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time
from typing import Any

SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102
PROTOCOL_3_0 = 196608
AUTH_OK = 0
AUTH_IDP_TOKEN = 14  # Redshift native IdP / IAM Identity Center token authentication
OID_INT4 = 23
OID_TEXT = 25
# What SQLAlchemy's PostgreSQL/Redshift dialect asks once per new connection (sqlalchemy-redshift
# on redshift_connector), answered as a real Redshift cluster does: one text column.
DIALECT_QUERIES = {
    "select pg_catalog.version()": ("version", "PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by "
                                    "GCC gcc (GCC) 3.4.2 20041017 (Red Hat 3.4.2-6.fc3), Redshift 1.0.77467"),
    "select current_schema()": ("current_schema", "public"),
    "show transaction isolation level": ("transaction_isolation", "serializable"),
    "show standard_conforming_strings": ("standard_conforming_strings", "off"),
}
MAX_MESSAGE = 1 << 20  # no legitimate message in this exchange comes near 1 MiB

# What a Redshift cluster reports after authentication (the driver reads client_encoding,
# server_version and server_protocol_version; the rest mirrors a real session).
PARAMETER_STATUS = [
    ("application_name", None),  # filled from the startup message
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("is_superuser", "off"),
    ("server_encoding", "UNICODE"),
    ("server_version", "8.0.2"),
    ("session_authorization", None),  # filled with the user name
    ("standard_conforming_strings", "off"),
    ("TimeZone", "UTC"),
]


# The scope an Identity Center access token needs to sign in to Redshift (the drivers'
# BrowserIdcAuthPlugin registers and authorizes exactly this scope).
REDSHIFT_CONNECT_SCOPE = "redshift:connect"


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_access_token(token: str, key: bytes | None, now: float | None = None
                        ) -> tuple[dict[str, Any] | None, str | None]:
    """(claims, None) for a live access token signed with `key`, else (None, why)."""
    if key is None:
        return None, "this server was started without --access-token-key-file, so no access token is valid"
    parts = token.split(".")
    if len(parts) != 3:
        return None, "the access token is not one Identity Center issued (not a signed JWT)"
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None, "the access token is not one Identity Center issued (malformed)"
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return None, "the access token is not one Identity Center issued (algorithm)"
    good = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, good):
        return None, "the access token is not one Identity Center issued (bad signature)"
    if claims.get("token_use") != "access":
        return None, "the token is not an access token"
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= (time.time() if now is None else now):
        return None, "the access token has expired"
    if REDSHIFT_CONNECT_SCOPE not in str(claims.get("scope", "")).split():
        return None, f"the access token lacks the {REDSHIFT_CONNECT_SCOPE} scope"
    return claims, None


def person_of_subject_token(token: str) -> str | None:
    """The test person the AWS stand-in's self-describing token was asked for by, if any."""
    parts = token.split(".")
    if len(parts) < 4 or parts[0] != "idc":
        return None
    m = re.fullmatch(r"ASIA([A-Z]+)\d{4}", parts[3])
    return m.group(1).lower() if m else None


class ProtocolError(Exception):
    """The client sent something this stand-in does not understand."""


class ClientGone(Exception):
    """The client closed the connection."""


def cstr(value: str) -> bytes:
    return value.encode("utf-8") + b"\x00"


def message(code: bytes, payload: bytes = b"") -> bytes:
    return code + struct.pack("!i", len(payload) + 4) + payload


def error_response(severity: str, sqlstate: str, text: str) -> bytes:
    fields = (
        b"S" + cstr(severity)
        + b"V" + cstr(severity)
        + b"C" + cstr(sqlstate)
        + b"M" + cstr(text)
        + b"\x00"
    )
    return message(b"E", fields)


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


class Connection:
    """Serves one client connection and fills in its report entry."""

    def __init__(self, sock: socket.socket, args: argparse.Namespace, tls: ssl.SSLContext,
                 expected_token: str | None, entry: dict[str, Any],
                 access_token_key: bytes | None = None):
        self.raw = sock
        self.sock: socket.socket | ssl.SSLSocket = sock
        self.args = args
        self.tls = tls
        self.expected_token = expected_token
        self.access_token_key = access_token_key
        self.entry = entry
        self.out = bytearray()
        self.tx_status = b"I"
        self.server_protocol_version = 0
        self.statements: dict[bytes, bytes] = {}  # prepared statement name -> SQL
        self.portals: dict[bytes, tuple[bytes, list[int]]] = {}  # portal -> (SQL, result formats)

    # -- byte I/O ---------------------------------------------------------------------------
    def recv_exact(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ClientGone()
            data += chunk
        return bytes(data)

    def send(self, data: bytes) -> None:
        self.out += data

    def flush(self) -> None:
        if self.out:
            self.sock.sendall(bytes(self.out))
            self.out.clear()

    def read_untyped(self) -> bytes:
        (length,) = struct.unpack("!i", self.recv_exact(4))
        if length < 8 or length > MAX_MESSAGE:
            raise ProtocolError(f"bad startup packet length {length}")
        return self.recv_exact(length - 4)

    def read_typed(self) -> tuple[bytes, bytes]:
        code = self.recv_exact(1)
        (length,) = struct.unpack("!i", self.recv_exact(4))
        if length < 4 or length > MAX_MESSAGE:
            raise ProtocolError(f"bad length {length} for message {code!r}")
        return code, self.recv_exact(length - 4)

    # -- the session ------------------------------------------------------------------------
    def serve(self) -> None:
        self.negotiate_tls()
        params = self.read_startup()
        if not self.authenticate(params):
            return
        self.send_session_start(params)
        self.query_loop()

    def negotiate_tls(self) -> None:
        while True:
            body = self.read_untyped()
            (code,) = struct.unpack("!i", body[:4])
            if code == SSL_REQUEST_CODE:
                self.raw.sendall(b"S")
                self.sock = self.tls.wrap_socket(self.raw, server_side=True)
                self.entry["tls"] = {"version": self.sock.version(), "cipher": self.sock.cipher()[0]}
                return
            if code == GSSENC_REQUEST_CODE:
                self.raw.sendall(b"N")
                continue
            if code == CANCEL_REQUEST_CODE:
                raise ProtocolError("cancel request (not supported)")
            # A plain-text startup message: this stand-in, like a Redshift endpoint used with
            # IdC, requires TLS.
            self.raw.sendall(error_response("FATAL", "28000", "TLS is required by this server"))
            raise ProtocolError("client did not request TLS")

    def read_startup(self) -> dict[str, str]:
        body = self.read_untyped()
        (protocol,) = struct.unpack("!i", body[:4])
        if protocol != PROTOCOL_3_0:
            raise ProtocolError(f"unsupported protocol {protocol}")
        parts = body[4:].split(b"\x00")
        # Layout: key NUL value NUL ... NUL (so the split ends with two empty strings).
        params: dict[str, str] = {}
        for i in range(0, len(parts) - 1, 2):
            if parts[i] == b"":
                break
            params[parts[i].decode("utf-8")] = parts[i + 1].decode("utf-8")
        self.entry["startup_params"] = params
        self.entry["idp_type"] = params.get("idp_type")
        self.entry["token_type"] = params.get("token_type")
        self.entry["plugin_name"] = params.get("plugin_name")
        return params

    def reject(self, text: str) -> bool:
        self.entry["outcome"] = "rejected"
        self.entry["error"] = text
        self.send(error_response("FATAL", "28000", text))
        self.flush()
        return False

    def authenticate(self, params: dict[str, str]) -> bool:
        if params.get("idp_type") != "AwsIdc":
            return self.reject(
                "this stand-in accepts only IAM Identity Center authentication (idp_type=AwsIdc), "
                f"got idp_type={params.get('idp_type')!r}")
        self.send(message(b"R", struct.pack("!i", AUTH_IDP_TOKEN)))
        self.flush()
        code, body = self.read_typed()
        if code != b"i":
            raise ProtocolError(f"expected the 'i' token message, got {code!r}")
        self.entry["token_message_length"] = len(body) + 4
        had_nul = body.endswith(b"\x00")
        self.entry["token_had_nul"] = had_nul
        token = (body[:-1] if had_nul else body).decode("utf-8")
        self.entry["token"] = token
        if not token:
            return self.reject("IdC token rejected: the token is empty")
        if params.get("token_type") is None:
            return self.reject("IdC token rejected: the startup message has no token_type")
        if params.get("token_type") == "ACCESS_TOKEN":
            claims, why = verify_access_token(token, self.access_token_key)
            if claims is None:
                return self.reject(f"IdC token rejected: {why}")
            self.entry["person"] = claims.get("username")
            self.entry["user_id"] = claims.get("sub")
        elif params.get("token_type") == "SUBJECT_TOKEN":
            self.entry["person"] = person_of_subject_token(token)
        if self.expected_token is not None and not hmac.compare_digest(
                token.encode("utf-8"), self.expected_token.encode("utf-8")):
            return self.reject("IdC token rejected: the token is not valid for this cluster")
        self.entry["outcome"] = "ok"
        return True

    def send_session_start(self, params: dict[str, str]) -> None:
        self.send(message(b"R", struct.pack("!i", AUTH_OK)))
        user = params.get("user") or "IAMR:idc-user"
        for key, value in PARAMETER_STATUS:
            if key == "application_name":
                value = params.get("application_name", "")
            elif key == "session_authorization":
                value = user
            self.send(message(b"S", cstr(key) + cstr(value)))
        # Redshift echoes the result-metadata protocol it agrees to; this stand-in speaks at
        # most EXTENDED_RESULT_METADATA (1): RowDescription then carries schema, table,
        # column and catalog names and a flags word after each field.
        requested = int(params.get("client_protocol_version", "0") or 0)
        self.server_protocol_version = min(requested, 1)
        if requested:
            self.send(message(b"S", cstr("server_protocol_version") + cstr(str(self.server_protocol_version))))
        self.send(message(b"K", struct.pack("!ii", os.getpid() & 0x7FFFFFFF, 0x5EED)))
        self.send(ready_for_query(self.tx_status))
        self.flush()

    # -- queries ----------------------------------------------------------------------------
    def query_loop(self) -> None:
        failed = False  # after an error in the extended protocol, skip until Sync
        while True:
            code, body = self.read_typed()
            if code == b"X":  # Terminate
                return
            if code == b"S":  # Sync
                failed = False
                self.send(ready_for_query(self.tx_status))
                self.flush()
                continue
            if code == b"H":  # Flush
                self.flush()
                continue
            if failed:
                continue
            try:
                if code == b"Q":
                    self.simple_query(body.rstrip(b"\x00"))
                elif code == b"P":
                    self.parse(body)
                elif code == b"B":
                    self.bind(body)
                elif code == b"D":
                    self.describe(body)
                elif code == b"E":
                    self.execute(body)
                elif code == b"C":  # Close statement/portal
                    kind, name = body[:1], body[1:].rstrip(b"\x00")
                    (self.statements if kind == b"S" else self.portals).pop(name, None)
                    self.send(message(b"3"))
                else:
                    raise ProtocolError(f"unsupported message {code!r}")
            except ProtocolError as exc:
                if code == b"Q":
                    raise
                self.send(error_response("ERROR", "0A000", str(exc)))
                failed = True

    def answer(self, sql: bytes) -> tuple[str, str | None, int | str | None]:
        """(command tag, column label, integer value) for the statements this stand-in knows.

        Scalar integer selects: `select <n> [as name]` and `select pg_backend_pid()` (which
        dbt runs after connecting), the text answers of DIALECT_QUERIES (SQLAlchemy). Transaction
        control and SET are acknowledged.
        """
        text = sql.decode("utf-8").strip().rstrip(";").strip()
        canned = DIALECT_QUERIES.get(" ".join(text.split()).lower())
        if canned:
            return "SELECT 1", canned[0], canned[1]
        m = re.fullmatch(r"(?is)select\s+(-?\d+|pg_backend_pid\(\))(?:\s+as\s+(\w+))?", text)
        if m:
            if m.group(1).lower().startswith("pg_backend_pid"):
                value, label = os.getpid(), "pg_backend_pid"
            else:
                value, label = int(m.group(1)), "?column?"
            return "SELECT 1", m.group(2) or label, value
        first = text.split(None, 1)[0].upper() if text else ""
        if first in ("BEGIN", "START"):
            return "BEGIN", None, None
        if first in ("COMMIT", "END"):
            return "COMMIT", None, None
        if first in ("ROLLBACK", "ABORT"):
            return "ROLLBACK", None, None
        if first in ("SET", "RESET"):
            return first, None, None
        raise ProtocolError(f"the Redshift stand-in does not support this statement: {text!r}")

    def run(self, sql: bytes) -> tuple[str, str | None, int | str | None]:
        """Records and "executes" a statement (tracking the transaction status)."""
        self.entry["queries"].append(sql.decode("utf-8").strip())
        tag, label, value = self.answer(sql)
        if tag == "BEGIN":
            self.tx_status = b"T"
        elif tag in ("COMMIT", "ROLLBACK"):
            self.tx_status = b"I"
        return tag, label, value

    def row_description(self, label: str, value: int | str, result_format: int) -> bytes:
        oid, size = (OID_TEXT, -1) if isinstance(value, str) else (OID_INT4, 4)
        field = cstr(label) + struct.pack("!ihihih", 0, 0, oid, size, -1, result_format)
        if self.server_protocol_version >= 1:
            # schema, table, column and catalog names, then Int16 flags (bit 0 nullable,
            # 4 autoincrement, 8 read-only, 12 searchable).
            field += cstr("") + cstr("") + cstr(label) + cstr("dev") + struct.pack("!h", 0x1)
        return message(b"T", struct.pack("!h", 1) + field)

    @staticmethod
    def data_row(value: int | str, result_format: int) -> bytes:
        if isinstance(value, str):
            cell = value.encode("utf-8")  # text's binary and text formats are the same bytes
        else:
            cell = struct.pack("!i", value) if result_format == 1 else str(value).encode("ascii")
        return message(b"D", struct.pack("!h", 1) + struct.pack("!i", len(cell)) + cell)

    def simple_query(self, sql: bytes) -> None:
        try:
            tag, label, value = self.run(sql)
        except ProtocolError as exc:
            self.send(error_response("ERROR", "0A000", str(exc)))
        else:
            if value is not None:
                self.send(self.row_description(label, value, 0))
                self.send(self.data_row(value, 0))
            self.send(message(b"C", cstr(tag)))
        self.send(ready_for_query(self.tx_status))
        self.flush()

    def parse(self, body: bytes) -> None:
        name_end = body.index(b"\x00")
        name = body[:name_end]
        sql_end = body.index(b"\x00", name_end + 1)
        self.statements[name] = body[name_end + 1:sql_end]
        self.send(message(b"1"))  # ParseComplete

    def bind(self, body: bytes) -> None:
        pos = body.index(b"\x00")
        portal = body[:pos]
        end = body.index(b"\x00", pos + 1)
        statement = body[pos + 1:end]
        pos = end + 1
        (n_formats,) = struct.unpack_from("!h", body, pos)
        pos += 2 + 2 * n_formats
        (n_params,) = struct.unpack_from("!h", body, pos)
        pos += 2
        for _ in range(n_params):
            (length,) = struct.unpack_from("!i", body, pos)
            pos += 4 + max(length, 0)
        (n_results,) = struct.unpack_from("!h", body, pos)
        pos += 2
        formats = list(struct.unpack_from(f"!{n_results}h", body, pos))
        if statement not in self.statements:
            raise ProtocolError(f"unknown prepared statement {statement!r}")
        self.portals[portal] = (self.statements[statement], formats)
        self.send(message(b"2"))  # BindComplete

    def describe(self, body: bytes) -> None:
        kind, name = body[:1], body[1:].rstrip(b"\x00")
        if kind == b"S":
            sql = self.statements.get(name)
            if sql is None:
                raise ProtocolError(f"unknown prepared statement {name!r}")
            self.send(message(b"t", struct.pack("!h", 0)))  # ParameterDescription: none
            formats = [0]
        else:
            if name not in self.portals:
                raise ProtocolError(f"unknown portal {name!r}")
            sql, formats = self.portals[name]
        _, label, value = self.answer(sql)
        if value is not None:
            self.send(self.row_description(label, value, formats[0] if formats else 0))
        else:
            self.send(message(b"n"))  # NoData

    def execute(self, body: bytes) -> None:
        name = body[: body.index(b"\x00")]
        if name not in self.portals:
            raise ProtocolError(f"unknown portal {name!r}")
        sql, formats = self.portals[name]
        tag, _, value = self.run(sql)
        if value is not None:
            self.send(self.data_row(value, formats[0] if formats else 0))
        self.send(message(b"C", cstr(tag)))


class Server:
    """Accepts up to N connections for at most S seconds and keeps the JSON report."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self.tls.load_cert_chain(args.cert, args.key)
        self.access_token_key = None
        if args.access_token_key_file:
            with open(args.access_token_key_file, "rb") as f:
                self.access_token_key = f.read().rstrip() or None
            if self.access_token_key is None:
                raise SystemExit(f"--access-token-key-file {args.access_token_key_file} is empty")
        self.expected_token = None
        if args.expect_token_file:
            with open(args.expect_token_file, encoding="utf-8") as f:
                self.expected_token = f.read().rstrip("\r\n")
        self.lock = threading.Lock()
        self.report: dict[str, Any] = {"port": None, "connections": []}
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.report["port"] = self.port

    def write_report(self) -> None:
        with self.lock:
            tmp = self.args.report + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.report, f, indent=2)
            os.replace(tmp, self.args.report)

    def handle(self, sock: socket.socket, entry: dict[str, Any], deadline: float) -> None:
        sock.settimeout(max(0.1, min(self.args.io_timeout, deadline - time.monotonic())))
        conn = Connection(sock, self.args, self.tls, self.expected_token, entry, self.access_token_key)
        try:
            conn.serve()
        except ClientGone:
            pass
        except (ProtocolError, ssl.SSLError, OSError, ValueError, struct.error) as exc:
            if entry["outcome"] in (None, "ok"):
                entry["outcome"] = entry["outcome"] or "error"
                entry["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass
            if entry["outcome"] is None:
                entry["outcome"] = "error"
                entry["error"] = entry["error"] or "client closed the connection before authenticating"
            self.write_report()

    def run(self) -> None:
        print(self.port, flush=True)
        self.write_report()
        deadline = time.monotonic() + self.args.max_seconds
        threads = []
        accepted = 0
        while accepted < self.args.max_connections:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.listener.settimeout(min(remaining, 0.5))
            try:
                sock, peer = self.listener.accept()
            except socket.timeout:
                continue
            accepted += 1
            # Without it, Nagle holds a small reply behind an unacknowledged one while the client
            # delays its ACK: about 200 ms per connect (a connect is ~7 ms with it).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            entry = {"peer": f"{peer[0]}:{peer[1]}", "startup_params": None, "token": None,
                     "token_type": None, "person": None, "user_id": None, "idp_type": None,
                     "plugin_name": None,
                     "token_had_nul": None, "outcome": None, "error": None, "tls": None,
                     "queries": []}
            with self.lock:
                self.report["connections"].append(entry)
            t = threading.Thread(target=self.handle, args=(sock, entry, deadline), daemon=True)
            t.start()
            threads.append(t)
        self.listener.close()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + 1.0)
        self.write_report()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cert", required=True, help="server certificate chain (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--report", required=True, help="JSON report file, rewritten after each connection")
    p.add_argument("--expect-token-file", help="reject any token that differs from this file's content")
    p.add_argument("--access-token-key-file",
                   help="accept token_type=ACCESS_TOKEN only for access tokens signed with this file's "
                        "content (the Identity Center stand-in's --idc-access-token-key-file)")
    p.add_argument("--max-connections", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--io-timeout", type=float, default=10.0, help="per-connection socket timeout")
    args = p.parse_args(argv)
    Server(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
