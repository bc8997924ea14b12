"""The bad-input catalog: one table, every public entry point, a clear error for each row.

Each row feeds one bad input to one public entry point (SecretRef, the sources,
CredentialResolver and its get_* methods, the decorators, AgentCoreAuth, EnvSource)
and expects:

- the exception type from the library's hierarchy (ConfigurationError,
  CredentialNotFoundError, AccessDeniedError, ...);
- a message that says what to fix (the row's expected substring);
- no secret value in the message, repr or formatted traceback: every secret the
  catalog stores in the emulator holds a canary, and rows that pass a credential
  themselves pass a canary.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentcore_auth import (
    AccessDeniedError,
    AgentCoreAuthError,
    AgentCoreIdentitySource,
    ConfigurationError,
    CredentialNotFoundError,
    CredentialResolver,
    EnvSource,
    SecretRef,
    SecretsManagerSource,
    identity_context,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth.testing import LocalAgentCore

CANARY = "CANARY-bad-input-7f3a9c"
GOOD_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:weather-AbCdEf"


@dataclass
class Catalog:
    """What the rows run against: the emulator, its secrets, and ready-made resolvers."""

    env: LocalAgentCore
    sm: CredentialResolver
    identity: CredentialResolver
    arns: dict[str, str]
    providers: dict[str, str]
    canaries: list[str] = field(default_factory=list)
    monkeypatch: pytest.MonkeyPatch | None = None


@pytest.fixture(scope="module")
def catalog(local_agentcore: LocalAgentCore) -> Catalog:
    env = local_agentcore
    env.clear_faults()
    canaries = [f"{CANARY}-{i}" for i in range(6)]
    contents: dict[str, Any] = {
        "missing_key": {"other": canaries[0]},
        "not_json": f"plain text {canaries[1]}",
        "not_object": f'["{canaries[2]}"]',
        "not_string": {"k": 42, "x": canaries[3]},
        "empty": {"k": "", "x": canaries[4]},
        "binary": canaries[5].encode(),
        "gone": {"k": canaries[0]},
    }
    arns = {label: env.create_secret(env.unique_name(label), value)
            for label, value in contents.items()}
    env.client("secretsmanager").delete_secret(SecretId=arns["gone"], RecoveryWindowInDays=7)
    arns["never"] = (f"arn:aws:secretsmanager:{env.region}:{env.account_id}:secret:"
                     f"{env.unique_name('never')}-AbCdEf")
    refs = {label: SecretRef(arn, "k") for label, arn in arns.items()}
    sm = CredentialResolver(SecretsManagerSource(
        {label.replace("_", "-"): ref for label, ref in refs.items()},
        endpoint_url=env.aws_endpoint_url, region=env.region, max_attempts=1))
    control = env.client("bedrock-agentcore-control")
    providers = {}
    denied_arn = env.create_secret(env.unique_name("denied"), {"k": canaries[1]}, policy=None)
    key = env.create_kms_key(grant_service=False)
    kms_arn = env.create_secret(env.unique_name("kms"), {"k": canaries[2]}, kms_key_id=key)
    for label, arn in (("denied", denied_arn), ("kms", kms_arn)):
        providers[label] = env.unique_name(label)
        control.create_api_key_credential_provider(
            name=providers[label], apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "k"})
    identity = CredentialResolver(AgentCoreIdentitySource(
        endpoint_url=env.endpoint_url, region=env.region, workload_name=env.create_workload(),
        max_attempts=1))
    return Catalog(env, sm, identity, arns, providers, canaries + [CANARY])


def _fn_without_into(city: str) -> str:
    return city


def _fn_with_varargs(api_key: str, *args: Any) -> str:
    return api_key


def _fn_positional_only(api_key: str, /) -> str:
    return api_key


def _caller_passes_key(c: Catalog) -> Any:
    @requires_api_key(provider_name="weather", resolver=c.sm)
    def tool(city: str, *, api_key: str) -> str:
        return city

    return tool("Paris", api_key=CANARY)  # the model tried to supply a credential


def _no_region(c: Catalog) -> Any:
    assert c.monkeypatch is not None
    c.monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    c.monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/agentcore-auth-test")
    source = AgentCoreIdentitySource(endpoint_url=c.env.endpoint_url, workload_name="w")
    return CredentialResolver(source).get_api_key("weather")


def _missing_profile(c: Catalog, source: str) -> Any:
    assert c.monkeypatch is not None
    c.monkeypatch.setenv("AWS_PROFILE", "prod")
    c.monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/agentcore-auth-test")
    c.monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/agentcore-auth-test")
    if source == "identity":
        return CredentialResolver(AgentCoreIdentitySource(
            endpoint_url=c.env.endpoint_url, region="us-east-1", workload_name="w",
        )).get_api_key("weather")
    return CredentialResolver(SecretsManagerSource(
        {"p": SecretRef(GOOD_ARN, "k")}, endpoint_url=c.env.aws_endpoint_url,
        region="us-east-1")).get_api_key("p")


def _aws_region_only(c: Catalog, region: str) -> Any:
    """AWS_REGION alone (AWS_DEFAULT_REGION unset), as AgentCore Runtime and Lambda set it."""
    assert c.monkeypatch is not None
    c.monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    c.monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/agentcore-auth-test")
    c.monkeypatch.setenv("AWS_REGION", region)
    return CredentialResolver(AgentCoreIdentitySource(
        endpoint_url=c.env.endpoint_url, workload_name="w")).get_api_key("weather")


def _partial_credentials(c: Catalog) -> Any:
    assert c.monkeypatch is not None
    c.monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    c.monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    return CredentialResolver(AgentCoreIdentitySource(
        endpoint_url=c.env.endpoint_url, region="us-east-1", workload_name="w",
    )).get_api_key("weather")


def _expired_aws_credentials(c: Catalog) -> Any:
    c.env.inject_fault("GetResourceApiKey", "ExpiredTokenException", count=1)
    try:
        return c.identity.get_api_key("expired-aws-credentials")
    finally:
        c.env.clear_faults()


def _identity_context_both(c: Catalog, prefer: Any = None) -> Any:
    with identity_context(user_id="bob", user_token=CANARY, prefer=prefer):
        return None  # pragma: no cover - refused on entry


def _arn(text: str) -> str:
    return text.replace("{sm}", "arn:aws:secretsmanager:us-east-1:111122223333:secret")


Row = tuple[str, Callable[[Catalog], Any], type[BaseException], str]

ROWS: list[Row] = [
    # --- ARNs and SecretRef ------------------------------------------------------------
    ("arn-malformed", lambda c: SecretRef("not-an-arn", "k"), ConfigurationError,
     "is not an ARN: expected 'arn:<partition>"),
    ("arn-truncated", lambda c: SecretRef("arn:aws:secretsmanager:us-east-1:111122223333", "k"),
     ConfigurationError, "is not an ARN"),
    ("arn-wrong-service", lambda c: SecretRef(
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd", "k"), ConfigurationError,
     "not a Secrets Manager secret ARN"),
    ("arn-wrong-resource", lambda c: SecretRef(
        "arn:aws:secretsmanager:us-east-1:111122223333:weather", "k"), ConfigurationError,
     "not a Secrets Manager secret ARN"),
    ("arn-unknown-partition", lambda c: SecretRef(_arn("{sm}:x").replace(":aws:", ":aws-xx:"),
                                                  "k"), ConfigurationError, "unknown partition"),
    ("arn-partition-region-mismatch", lambda c: SecretRef(
        "arn:aws-cn:secretsmanager:us-east-1:111122223333:secret:x", "k"), ConfigurationError,
     "belongs to partition 'aws'"),
    ("arn-bad-account", lambda c: SecretRef(
        "arn:aws:secretsmanager:us-east-1:1234:secret:x", "k"), ConfigurationError,
     "12 digits expected"),
    ("arn-no-region", lambda c: SecretRef(
        "arn:aws:secretsmanager::111122223333:secret:x", "k"), ConfigurationError,
     "must include a Region"),
    ("arn-bad-region", lambda c: SecretRef(
        "arn:aws:secretsmanager:US_EAST:111122223333:secret:x", "k"), ConfigurationError,
     "malformed Region"),
    ("arn-bad-secret-name", lambda c: SecretRef(_arn("{sm}:bad name!"), "k"), ConfigurationError,
     "invalid secret name"),
    ("arn-not-a-string", lambda c: SecretRef(42, "k"), ConfigurationError,  # type: ignore[arg-type]
     "must be a string ARN"),
    ("json-key-empty", lambda c: SecretRef(GOOD_ARN, ""), ConfigurationError, "1 to 128"),
    ("json-key-oversized", lambda c: SecretRef(GOOD_ARN, "k" * 129), ConfigurationError,
     "1 to 128"),
    ("secret-in-another-region", lambda c: SecretsManagerSource(
        {"p": SecretRef(GOOD_ARN.replace("us-east-1", "eu-west-1"), "k")}, region="us-east-1"),
     ConfigurationError, "replicate-secret-to-regions"),
    ("secret-in-another-partition", lambda c: SecretsManagerSource(
        {"p": SecretRef("arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:x", "k")},
        region="us-east-1"), ConfigurationError, "reference a secret in us-east-1"),
    ("sm-refs-not-a-mapping", lambda c: SecretsManagerSource([GOOD_ARN]),  # type: ignore[arg-type]
     ConfigurationError, "dict of provider name -> SecretRef"),
    ("sm-ref-wrong-type", lambda c: SecretsManagerSource({"p": GOOD_ARN}),  # type: ignore[dict-item]
     ConfigurationError, "must map to a SecretRef"),
    # --- provider names ----------------------------------------------------------------
    ("provider-empty", lambda c: c.sm.get_api_key(""), ConfigurationError,
     "1 to 128 characters of letters, digits"),
    ("provider-oversized", lambda c: c.sm.get_api_key("p" * 129), ConfigurationError,
     "1 to 128 characters"),
    ("provider-ill-charactered", lambda c: c.sm.get_api_key("weather api/v1"),
     ConfigurationError, "letters, digits, '-' and '_'"),
    ("provider-non-ascii", lambda c: c.sm.get_oauth2_token("wéather", scopes=["r"]),
     ConfigurationError, "letters, digits"),
    ("provider-not-a-string", lambda c: c.sm.get_api_key(None),  # type: ignore[arg-type]
     ConfigurationError, "provider name <NoneType> is invalid"),
    ("env-source-bad-name", lambda c: EnvSource({"bad name": "X"}), ConfigurationError,
     "provider name 'bad name' is invalid"),
    ("decorator-bad-name", lambda c: requires_api_key(provider_name="a/b"), ConfigurationError,
     "provider name 'a/b' is invalid"),
    # --- secret contents (through SecretsManagerSource and the resolver) ---------------
    ("json-key-missing", lambda c: c.sm.get_api_key("missing-key"), CredentialNotFoundError,
     "JSON key 'k' is not in"),
    ("secret-string-not-json", lambda c: c.sm.get_api_key("not-json"), ConfigurationError,
     "SecretString is not JSON"),
    ("secret-string-not-object", lambda c: c.sm.get_api_key("not-object"), ConfigurationError,
     "JSON but not an object"),
    ("json-value-not-string", lambda c: c.sm.get_api_key("not-string"), ConfigurationError,
     "holds a int, not a string"),
    ("json-value-empty", lambda c: c.sm.get_api_key("empty"), ConfigurationError,
     "is empty: store the value"),
    ("secret-binary-only", lambda c: c.sm.get_api_key("binary"), ConfigurationError,
     "SecretBinary only"),
    ("secret-scheduled-for-deletion", lambda c: c.sm.get_api_key("gone"),
     CredentialNotFoundError, "restore-secret"),
    ("secret-does-not-exist", lambda c: c.sm.get_api_key("never"), CredentialNotFoundError,
     "may have been deleted"),
    ("sm-unknown-provider", lambda c: c.sm.get_api_key("unknown"), CredentialNotFoundError,
     "configured: binary, empty, gone"),
    # --- AgentCore Identity ------------------------------------------------------------
    ("identity-unknown-provider", lambda c: c.identity.get_api_key("no-such-provider-x1"),
     CredentialNotFoundError, "providers create-api-key --name no-such-provider-x1"),
    ("identity-secret-policy-missing", lambda c: c.identity.get_api_key(c.providers["denied"]),
     AccessDeniedError, "secretsmanager:GetSecretValue"),
    ("identity-kms-decrypt-missing", lambda c: c.identity.get_api_key(c.providers["kms"]),
     AccessDeniedError, "kms:Decrypt"),
    ("identity-no-workload", lambda c: CredentialResolver(AgentCoreIdentitySource(
        endpoint_url=c.env.endpoint_url, region="us-east-1")).get_api_key("weather"),
     ConfigurationError, "pass workload_name="),
    # --- OAuth2 arguments --------------------------------------------------------------
    ("auth-flow-wrong", lambda c: c.sm.get_oauth2_token("p", scopes=["r"],
                                                        auth_flow="CLIENT_CREDENTIALS"),
     ConfigurationError, "use one of M2M, USER_FEDERATION"),
    ("auth-flow-wrong-decorator", lambda c: requires_access_token(
        provider_name="p", scopes=["r"], auth_flow="implicit"),  # type: ignore[arg-type]
     ConfigurationError, "is not supported; use one of"),
    ("scopes-a-string", lambda c: c.sm.get_oauth2_token("p", scopes="read"),
     ConfigurationError, "must be a list of strings, e.g. scopes=['read']"),
    ("scopes-not-strings", lambda c: c.sm.get_oauth2_token("p", scopes=["read", 7]),
     ConfigurationError, "list of non-empty strings"),
    ("scopes-none", lambda c: c.sm.get_oauth2_token("p", scopes=None),  # type: ignore[arg-type]
     ConfigurationError, "must be a list of strings"),
    ("audiences-not-strings", lambda c: c.sm.get_oauth2_token("p", scopes=["r"],
                                                              audiences=[b"x"]),
     ConfigurationError, "audiences for provider 'p'"),
    ("custom-parameters-not-str", lambda c: c.sm.get_oauth2_token(
        "p", scopes=["r"], custom_parameters={"a": 1}), ConfigurationError, "dict of str to str"),
    ("user-federation-without-user", lambda c: c.identity.get_oauth2_token(
        "p", scopes=["r"], auth_flow="USER_FEDERATION"), ConfigurationError,
     "identity_context(user_id="),
    # --- configuration of sources and resolvers ----------------------------------------
    ("no-region-configured", _no_region, ConfigurationError, "no AWS Region configured"),
    ("aws-profile-missing", lambda c: _missing_profile(c, "identity"), ConfigurationError,
     "aws configure --profile prod"),
    ("aws-profile-missing-secretsmanager", lambda c: _missing_profile(c, "sm"),
     ConfigurationError, "unset AWS_PROFILE"),
    ("aws-region-invalid", lambda c: _aws_region_only(c, "us east 1"), ConfigurationError,
     "is not a valid AWS Region name"),
    ("aws-credentials-partial", _partial_credentials, ConfigurationError,
     "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ("aws-credentials-expired", _expired_aws_credentials, ConfigurationError,
     "the session credentials have expired"),
    # --- identity ----------------------------------------------------------------------
    ("identity-user-id-and-token", lambda c: c.identity.get_api_key(
        "weather", user_id="bob", user_token=CANARY), ConfigurationError,
     "prefer='user_token'"),
    ("identity-context-user-id-and-token", _identity_context_both, ConfigurationError,
     "given together"),
    ("identity-prefer-misspelt", lambda c: _identity_context_both(c, prefer="jwt"),
     ConfigurationError, "prefer must be 'user_id' or 'user_token'"),
    ("endpoint-not-http", lambda c: AgentCoreIdentitySource(endpoint_url="ftp://127.0.0.1:1"),
     ConfigurationError, "must be an http:// or https:// URL"),
    ("endpoint-no-scheme", lambda c: SecretsManagerSource(
        {"p": SecretRef(GOOD_ARN, "k")}, endpoint_url="127.0.0.1:4566"), ConfigurationError,
     "must be an http:// or https:// URL"),
    ("endpoint-malformed", lambda c: CredentialResolver(AgentCoreIdentitySource(
        endpoint_url="http://[::1", region="us-east-1", workload_name="w")).get_api_key("x"),
     ConfigurationError, "cannot create the bedrock-agentcore client"),
    ("max-attempts-zero", lambda c: AgentCoreIdentitySource(max_attempts=0), ConfigurationError,
     "max_attempts must be at least 1"),
    ("resolver-negative-ttl", lambda c: CredentialResolver(c.sm.source, ttl=-1),
     ConfigurationError, "ttl must be a number of seconds >= 0"),
    ("resolver-nan-ttl", lambda c: CredentialResolver(c.sm.source, ttl=float("nan")),
     ConfigurationError, "ttl must be a number of seconds >= 0, not nan"),
    ("resolver-bool-stale", lambda c: CredentialResolver(c.sm.source, stale_if_error=True),
     ConfigurationError, "stale_if_error must be a number of seconds >= 0, not True"),
    ("resolver-negative-poll", lambda c: CredentialResolver(c.sm.source,
                                                            consent_poll_interval=-1),
     ConfigurationError, "consent_poll_interval must be a number of seconds >= 0"),
    ("resolver-zero-entries", lambda c: CredentialResolver(c.sm.source, max_entries=0),
     ConfigurationError, "max_entries must be a positive int"),
    ("resolver-not-a-source", lambda c: CredentialResolver(object()),  # type: ignore[arg-type]
     ConfigurationError, "fetch(request, identity) method"),
    # --- decorators and httpx ----------------------------------------------------------
    ("decorator-into-not-accepted", lambda c: requires_api_key(provider_name="weather")(
        _fn_without_into), ConfigurationError, "add a keyword-only parameter (`*, api_key: str`)"),
    ("decorator-into-positional-only", lambda c: requires_api_key(provider_name="weather")(
        _fn_positional_only), ConfigurationError, "make it keyword-only"),
    ("decorator-into-with-varargs", lambda c: requires_api_key(provider_name="weather")(
        _fn_with_varargs), ConfigurationError, "make it keyword-only"),
    ("decorator-into-not-identifier", lambda c: requires_api_key(
        provider_name="weather", into="api-key"), ConfigurationError, "must be a parameter name"),
    ("decorator-caller-passes-credential", _caller_passes_key, ConfigurationError,
     "callers must not pass it"),
    ("decorator-reject-status-not-error", lambda c: requires_api_key(
        provider_name="weather", reject_statuses=(200,)), ConfigurationError,
     "must be HTTP error statuses"),
    ("httpx-header-and-query", lambda c: _auth().api_key("weather", header="x", query_param="k"),
     ConfigurationError, "needs exactly one of header= or query_param="),
    ("httpx-bad-scopes", lambda c: _auth().oauth2("weather", scopes="read"), ConfigurationError,
     "must be a list of strings"),
    ("httpx-bad-resolver", lambda c: _auth().api_key("weather", resolver="r"),  # type: ignore[arg-type]
     ConfigurationError, "resolver must be a CredentialResolver"),
]


def _auth() -> Any:
    from agentcore_auth.httpx import AgentCoreAuth

    return AgentCoreAuth


@pytest.mark.parametrize(("label", "call", "error", "fix"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_input(catalog: Catalog, monkeypatch: pytest.MonkeyPatch, label: str,
                   call: Callable[[Catalog], Any], error: type[BaseException], fix: str) -> None:
    """Each bad input raises the documented type, says what to fix, and shows no secret."""
    catalog.monkeypatch = monkeypatch
    with pytest.raises(error) as info:
        call(catalog)
    exc = info.value
    assert isinstance(exc, AgentCoreAuthError), f"{label}: {type(exc).__name__} is not ours"
    assert type(exc) is error, f"{label}: {type(exc).__name__}: {exc}"
    assert fix in str(exc), f"{label}: {exc}"
    shown = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
    for canary in catalog.canaries:
        assert canary not in shown, f"{label}: secret value in the error"


def test_catalog_size() -> None:
    """The catalog covers at least 30 bad inputs."""
    assert len(ROWS) >= 30
