#!/usr/bin/env python3
"""Log in to a Snowflake endpoint (the emulator) with the official Python connector.

Used by the Rust official-driver tests. Reads one JSON spec from argv[1] (a JSON text, or
"-" / nothing for stdin):

    {"host": "127.0.0.1", "port": 8080, "protocol": "http", "account": "EMU",
     "user": "BI_SVC",                        # required except with pat / oauth_token
     "role": "ANALYST",                        # optional: requested session role
     and exactly one credential:
     "password": "<PAT used as a password>"
     "pat": "<PAT>"                            # authenticator=PROGRAMMATIC_ACCESS_TOKEN
     "oauth_token": "<access token>"           # authenticator=oauth
     "private_key_file": "/path/key.p8"        # authenticator=SNOWFLAKE_JWT
     "private_key_file_pwd": "..."             # optional, for an encrypted key
     "wif_token_file": "/path/token"           # authenticator=WORKLOAD_IDENTITY, provider
                                               # OIDC, the ID token read from the file
     "connection_name": "default"              # a connection of the connections.toml in
                                               # "snowflake_home" (then host, port, account
                                               # and user come from that file only)
     "login_timeout": 10}                      # optional, seconds (default 10)

Workload identity logins (wif_token_file, or a connection file saying so) set
SNOWFLAKE_WIF_ALLOWED_HOST_SUFFIXES to the host first: the connectors refuse to send an
attestation to a host outside *.snowflakecomputing.com otherwise, and only this environment
variable widens the list.

logs in, runs SELECT CURRENT_USER(), CURRENT_ROLE(), closes the connection and prints one
JSON line: {"ok": true, "user": ..., "role": ..., "version": ...} or
{"ok": false, "errno": ..., "sqlstate": ..., "msg": ..., "version": ...}, where "version" is
snowflake.connector.__version__, so the caller can check which connector really ran (the
tests run the same cases against the pinned 4.8.1 and the current 5.x line). Exit status 0
in both cases; 2 for a bad spec, 3 for an unexpected harness failure. Credentials are never
printed.

Works unchanged with 4.8.1 and 5.x: both accept the same connection parameters (5.x maps
the deprecated network_timeout and socket_timeout onto its split timeouts, with a
DeprecationWarning on stderr).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

CREDENTIAL_KEYS = (
    "password",
    "pat",
    "oauth_token",
    "private_key_file",
    "wif_token_file",
    "connection_name",
)


def fail(code: int, message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def read_spec(argv: list[str]) -> dict[str, Any]:
    text = argv[1] if len(argv) > 1 and argv[1] != "-" else sys.stdin.read()
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        fail(2, f"connector_login: spec is not JSON: {err}")
    if not isinstance(spec, dict):
        fail(2, "connector_login: spec must be a JSON object")
    given = [k for k in CREDENTIAL_KEYS if spec.get(k) is not None]
    if len(given) != 1:
        fail(2, f"connector_login: give exactly one of {', '.join(CREDENTIAL_KEYS)}")
    for key in ("host", "port", "account"):
        if spec.get(key) is None:
            fail(2, f"connector_login: missing {key}")
    return spec


def connect_args(spec: dict[str, Any]) -> dict[str, Any]:
    """Connection parameters that make a refused login fail at once.

    The connector retries failed HTTP requests until login_timeout runs out and re-signs
    key-pair JWTs on timeouts; short timeouts and no retries keep a refusal fast. OCSP and
    telemetry are irrelevant over loopback http, and keep-alive would start a heartbeat
    thread.
    """
    timeout = int(spec.get("login_timeout", 10))
    common: dict[str, Any] = {
        "login_timeout": timeout,
        "network_timeout": timeout,
        "socket_timeout": timeout,
        "platform_detection_timeout_seconds": 0.0,
        "client_session_keep_alive": False,
        "disable_ocsp_checks": True,
        "client_store_temporary_credential": False,
        "client_request_mfa_token": False,
        "validate_default_parameters": False,
    }
    if spec.get("connection_name") is not None:
        # Everything else from the file, as a workload reads it.
        return {"connection_name": spec["connection_name"], **common}
    args: dict[str, Any] = {
        "host": spec["host"],
        "port": int(spec["port"]),
        "protocol": spec.get("protocol", "http"),
        "account": spec["account"],
        **common,
    }
    if spec.get("user") is not None:
        args["user"] = spec["user"]
    if spec.get("role") is not None:
        args["role"] = spec["role"]
    if spec.get("password") is not None:
        args["password"] = spec["password"]
    elif spec.get("pat") is not None:
        args["authenticator"] = "PROGRAMMATIC_ACCESS_TOKEN"
        args["token"] = spec["pat"]
    elif spec.get("oauth_token") is not None:
        args["authenticator"] = "oauth"
        args["token"] = spec["oauth_token"]
    elif spec.get("wif_token_file") is not None:
        args["authenticator"] = "WORKLOAD_IDENTITY"
        args["workload_identity_provider"] = "OIDC"
        args["token_file_path"] = spec["wif_token_file"]
    else:
        args["authenticator"] = "SNOWFLAKE_JWT"
        args["private_key_file"] = spec["private_key_file"]
        if spec.get("private_key_file_pwd") is not None:
            args["private_key_file_pwd"] = spec["private_key_file_pwd"]
    return args


def main(argv: list[str]) -> int:
    spec = read_spec(argv)
    # The 4.8.1 key-pair authenticator reads its retry policy from the environment only
    # (auth/keypair.py AuthByKeyPair.__init__): no re-signed retries of a refused JWT.
    # 5.x ignores these variables and does not retry a refused JWT either.
    timeout = str(int(spec.get("login_timeout", 10)))
    os.environ.setdefault("JWT_CNXN_RETRY_ATTEMPTS", "0")
    os.environ.setdefault("JWT_CNXN_WAIT_TIME", timeout)
    os.environ.setdefault("SNOWFLAKE_WIF_ALLOWED_HOST_SUFFIXES", str(spec["host"]))
    if spec.get("snowflake_home") is not None:
        os.environ["SNOWFLAKE_HOME"] = str(spec["snowflake_home"])
    import snowflake.connector
    from snowflake.connector.errors import Error

    try:
        conn = snowflake.connector.connect(**connect_args(spec))
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT CURRENT_USER(), CURRENT_ROLE()")
            row = cursor.fetchone()
        finally:
            conn.close()
    except Error as err:
        result = {
            "ok": False,
            "errno": err.errno,
            "sqlstate": err.sqlstate,
            "msg": err.raw_msg or str(err),
        }
    else:
        if row is None or len(row) != 2:
            result = {"ok": False, "errno": None, "sqlstate": None, "msg": f"unexpected row {row!r}"}
        else:
            result = {"ok": True, "user": row[0], "role": row[1]}
    result["version"] = snowflake.connector.__version__
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except SystemExit:
        raise
    except BaseException as err:  # a harness failure, not a login refusal
        fail(3, f"connector_login: {type(err).__name__}: {err}")
