"""The Identity Center stand-in against a second, independent AWS client: the AWS CLI (botocore).

Why it exists: the Rust tests prove the stand-in speaks what the Rust SDK speaks; the AWS CLI
is how the issue's "wire facts" were checked and the chain people run by hand today
(`sso-oidc create-token-with-iam`, `sts assume-role --provided-contexts`, the token call), so
the same stand-in must satisfy it too. And the executable's `credentials` command must work as
the CLI's `credential_process`: botocore parses its output and signs the token call with it.

Everything runs against `aws-standin --idc` on 127.0.0.1 with fixed bootstrap keys.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, Child

APPLICATION_ARN = "arn:aws:sso::123456789012:application/ssoins-7223ac1b2bc1e4f5/apl-5d9f2c1e8a7b6c3d"
ROLE_ARN = "arn:aws:iam::123456789012:role/RedshiftIdcUser"
PROVIDER_ARN = "arn:aws:iam::aws:contextProvider/IdentityCenter"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AWS = REPO_ROOT / ".venv" / "bin" / "aws"


def _second_line(child: Child, timeout: float = 20.0) -> str:
    child.first_line(timeout)
    lines = child.stdout_path.read_text().splitlines()
    assert len(lines) >= 2, f"aws-standin --idc printed {lines!r}"
    return lines[1].strip()


@pytest.fixture
def standins(rit_standin: Path, tmp_path: Path, children: list[Child]) -> dict[str, str]:
    if not AWS.is_file():
        pytest.skip(f"{AWS} does not exist: run scripts/python-env")
    log = tmp_path / "idc.jsonl"
    child = Child([str(rit_standin), "--idc", "--max-seconds", "90", "--idc-log", str(log)],
                  tmp_path, "aws-standin")
    children.append(child)
    idc = _second_line(child)
    return {"redshift": child.first_line(), "idc": idc, "log": str(log)}


def _get(url: str, method: str = "GET") -> str:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
        return r.read().decode()


def _aws(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(AWS), *args, "--region", "us-east-1", "--output", "json"],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def _ok(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


def _problems(log: str) -> list:
    lines = [json.loads(line) for line in Path(log).read_text().splitlines() if line.strip()]
    return [(r["op"], r["problems"]) for r in lines if r["problems"]]


def test_aws_cli_chain_gets_a_token_for_the_person(standins, rit_env):
    jwt = _get(f"{standins['idc']}/standin/jwt?person=bob&ttl=300")
    token = _ok(_aws(rit_env, "sso-oidc", "create-token-with-iam", "--endpoint-url", standins["idc"],
                     "--client-id", APPLICATION_ARN, "--grant-type", JWT_BEARER, "--assertion", jwt))
    assert token["tokenType"] == "Bearer" and token["accessToken"] and token["refreshToken"]
    context = token["awsAdditionalDetails"]["identityContext"]

    contexts = json.dumps([{"ProviderArn": PROVIDER_ARN, "ContextAssertion": context}])
    role = _ok(_aws(rit_env, "sts", "assume-role", "--endpoint-url", standins["idc"],
                    "--role-arn", ROLE_ARN, "--role-session-name", "cli",
                    "--provided-contexts", contexts))
    creds = role["Credentials"]
    assert creds["AccessKeyId"] == "ASIABOB0001"

    env = dict(rit_env, AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
               AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"], AWS_SESSION_TOKEN=creds["SessionToken"])
    out = _ok(_aws(env, "redshift", "get-identity-center-auth-token", "--endpoint-url",
                   standins["redshift"], "--cluster-ids", "c1"))
    assert out["Token"].startswith("idc.rs.us-east-1.ASIABOB0001.c1."), out

    counts = json.loads(_get(f"{standins['idc']}/standin/counts"))
    assert counts["ok"] == {"CreateTokenWithIAM": 1, "AssumeRole": 1}, counts
    assert _problems(standins["log"]) == []


def test_aws_cli_sees_sso_oidc_errors_by_code(standins, rit_env):
    proc = _aws(rit_env, "sso-oidc", "create-token-with-iam", "--endpoint-url", standins["idc"],
                "--client-id", APPLICATION_ARN, "--grant-type", JWT_BEARER, "--assertion", "a.b.c")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode in (254, 255), err  # service error: 255 in awscli v1, 254 in v2
    assert "(InvalidGrantException) when calling the CreateTokenWithIAM operation" in err, err
    # botocore reads the message from error_description, the only text sso-oidc sends.
    assert "not base64url-encoded JSON" in err, err

    proc = _aws(rit_env, "sts", "assume-role", "--endpoint-url", standins["idc"],
                "--role-arn", "arn:aws:iam::123456789012:role/NoSetContext", "--role-session-name", "cli",
                "--provided-contexts", json.dumps([{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "eA=="}]))
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode in (254, 255), err
    assert "(AccessDenied) when calling the AssumeRole operation" in err and "sts:SetContext" in err, err
    assert _problems(standins["log"]) == []


def test_credentials_command_is_a_credential_process_for_the_aws_cli(standins, rit_env, rit_bin, tmp_path):
    jwt_file = tmp_path / "alice.jwt"
    jwt_file.write_text(_get(f"{standins['idc']}/standin/jwt?person=alice&ttl=300"))
    config = tmp_path / "config"
    config.write_text(
        "[profile bootstrap]\nregion = us-east-1\n"
        f"redshift_idc_application_arn = {APPLICATION_ARN}\n"
        f"redshift_idc_role_arn = {ROLE_ARN}\n"
        f"redshift_idc_jwt_file = {jwt_file}\n"
        "[profile person]\nregion = us-east-1\n"
        f"credential_process = {rit_bin} credentials --profile bootstrap\n")
    env = dict(rit_env, AWS_CONFIG_FILE=str(config), AWS_ENDPOINT_URL_SSO_OIDC=standins["idc"],
               AWS_ENDPOINT_URL_STS=standins["idc"])
    # The bootstrap keys reach the executable through the environment; the CLI itself must use
    # the credential_process of the `person` profile, so they are not in its own environment.
    bootstrap = {k: env.pop(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    creds_file = tmp_path / "credentials"
    creds_file.write_text(
        "[bootstrap]\n"
        f"aws_access_key_id = {bootstrap['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {bootstrap['AWS_SECRET_ACCESS_KEY']}\n")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds_file)
    out = _ok(_aws(env, "redshift", "get-identity-center-auth-token", "--profile", "person",
                   "--endpoint-url", standins["redshift"], "--cluster-ids", "c1"))
    assert out["Token"].startswith("idc.rs.us-east-1.ASIAALICE0001.c1."), out
    counts = json.loads(_get(f"{standins['idc']}/standin/counts"))
    assert counts["ok"] == {"CreateTokenWithIAM": 1, "AssumeRole": 1}, counts
    assert _problems(standins["log"]) == []
