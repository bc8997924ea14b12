"""Create and inspect AgentCore Identity credential providers that reference your own secrets.

The functions here are what ``agentcore-auth providers ...`` runs. They check
everything that can be checked without a call (provider name pattern, secret ARN
shape, same Region as the control plane, vendor and discovery options) and raise
:class:`~agentcore_auth.ConfigurationError` with the fix before calling
``bedrock-agentcore-control``. The control-plane client comes from boto3's usual
configuration (``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL`` included) unless one
is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ._arn import SecretRef, validate_provider_name
from ._exceptions import AgentCoreAuthError, ConfigurationError, CredentialNotFoundError
from .sources._base import map_boto_error

__all__ = [
    "ProviderInfo",
    "control_client",
    "create_api_key_provider",
    "create_oauth2_provider",
    "delete_provider",
    "describe_provider",
    "list_providers",
]

SOURCE = "agentcore-identity-control"
# Vendors with a config structure of their own; every other vendor uses
# includedOauth2ProviderConfig (which also takes issuer and endpoints).
_OWN_CONFIG = ("Custom", "Google", "Github", "Slack", "Salesforce", "Microsoft", "Atlassian",
               "Linkedin")


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What the control plane says about one credential provider (never a secret value).

    Attributes:
        name: the provider's name.
        kind: ``"api_key"`` or ``"oauth2"``.
        arn: the credential provider ARN.
        source: ``"EXTERNAL"`` (your secret) or ``"MANAGED"`` (the service's), if known.
        secret_arn: the secret holding the API key or client secret.
        json_key: the key of the secret's JSON SecretString that holds the value.
        vendor: the OAuth2 vendor (``CustomOauth2``, ``GoogleOauth2``, ...).
        client_id: the OAuth2 client ID.
        callback_url: the OAuth2 callback URL to register with the authorization server.
        discovery: the OAuth2 discovery configuration (URL or server metadata).
        status: the provider's status, when reported.
    """

    name: str
    kind: Literal["api_key", "oauth2"]
    arn: str | None = None
    source: str | None = None
    secret_arn: str | None = None
    json_key: str | None = None
    vendor: str | None = None
    client_id: str | None = None
    callback_url: str | None = None
    discovery: dict[str, Any] = field(default_factory=dict)
    status: str | None = None

    @property
    def region(self) -> str | None:
        """The provider's Region, from its ARN."""
        parts = (self.arn or "").split(":")
        return parts[3] if len(parts) > 4 and parts[3] else None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def control_client(
    *, client: Any = None, region: str | None = None, endpoint_url: str | None = None,
    session: Any = None,
) -> Any:
    """A ``bedrock-agentcore-control`` client: ``client`` itself, or one from boto3's config."""
    if client is not None:
        return client
    import boto3

    from ._aws import configuration_error, configured_region

    region = region or configured_region(session)
    if not region:
        raise ConfigurationError(
            "no AWS Region configured: pass --region (region=), or set AWS_REGION "
            "(AWS_DEFAULT_REGION also works), or set the profile's region")
    try:
        return (session or boto3.session.Session()).client(
            "bedrock-agentcore-control", region_name=region, endpoint_url=endpoint_url)
    except Exception as exc:  # botocore's configuration errors share no importable base
        error = configuration_error(exc, "creating the bedrock-agentcore-control client")
        if error is None:
            raise
        raise error from exc


def _call(what: str, name: str, call: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = call()
    except AgentCoreAuthError:
        raise
    except Exception as exc:  # botocore's errors share no importable base we want here
        raise map_boto_error(exc, provider_name=name, source=SOURCE, what=what) from exc
    result.pop("ResponseMetadata", None)
    return result


def _check_ref(ref: SecretRef, client: Any) -> None:
    if not isinstance(ref, SecretRef):
        raise ConfigurationError("ref must be a SecretRef(secret_id=ARN, json_key=KEY)")
    ref.check_region(str(client.meta.region_name))


def _api_key_info(out: Mapping[str, Any], name: str) -> ProviderInfo:
    return ProviderInfo(
        name=out.get("name", name), kind="api_key", arn=out.get("credentialProviderArn"),
        source=out.get("apiKeySecretSource"),
        secret_arn=(out.get("apiKeySecretArn") or {}).get("secretArn"),
        json_key=out.get("apiKeySecretJsonKey"))


def _oauth2_info(out: Mapping[str, Any], name: str) -> ProviderInfo:
    configs: dict[str, Any] = out.get("oauth2ProviderConfigOutput") or {}
    config: dict[str, Any] = next(iter(configs.values()), {})
    return ProviderInfo(
        name=out.get("name", name), kind="oauth2", arn=out.get("credentialProviderArn"),
        source=out.get("clientSecretSource"),
        secret_arn=(out.get("clientSecretArn") or {}).get("secretArn"),
        json_key=out.get("clientSecretJsonKey"), vendor=out.get("credentialProviderVendor"),
        client_id=config.get("clientId"), callback_url=out.get("callbackUrl"),
        discovery=dict(config.get("oauthDiscovery") or {}), status=out.get("status"))


def create_api_key_provider(
    name: str, ref: SecretRef, *, client: Any = None, region: str | None = None,
    endpoint_url: str | None = None, session: Any = None, tags: Mapping[str, str] | None = None,
) -> ProviderInfo:
    """Create an API key credential provider whose key lives in your secret (EXTERNAL).

    Args:
        name: the provider name (1 to 128 of letters, digits, ``-`` and ``_``).
        ref: the secret's ARN and the JSON key holding the API key; the secret must be
            in the control plane's Region (it may be in another account).
        client: a ``bedrock-agentcore-control`` client; default from boto3's config.
        region: the Region, when no client is given.
        endpoint_url: the control plane's endpoint, when no client is given.
        session: a boto3 Session to create the client from.
        tags: tags for the provider.

    Raises:
        ConfigurationError: a bad name, ARN or Region (checked before any call), or
            a request the service refused as invalid.
        CredentialError: the service refused it (conflict, access denied, ...).
    """
    validate_provider_name(name)
    client = control_client(client=client, region=region, endpoint_url=endpoint_url,
                            session=session)
    _check_ref(ref, client)
    params: dict[str, Any] = {
        "name": name, "apiKeySecretSource": "EXTERNAL",
        "apiKeySecretConfig": {"secretId": ref.secret_id, "jsonKey": ref.json_key}}
    if tags:
        params["tags"] = dict(tags)
    out = _call(f"CreateApiKeyCredentialProvider {name!r}", name,
                lambda: client.create_api_key_credential_provider(**params))
    return _api_key_info(out, name)


def _vendor_key(vendor: str, client: Any) -> str:
    try:
        known = client.meta.service_model.shape_for("CredentialProviderVendorType").enum
    except Exception:  # an older model: let the service judge
        known = []
    if known and vendor not in known:
        raise ConfigurationError(
            f"unknown OAuth2 vendor {vendor!r}: use one of {', '.join(known)}")
    base = vendor.removesuffix("Oauth2")
    if base in _OWN_CONFIG:
        return f"{base[0].lower()}{base[1:]}Oauth2ProviderConfig"
    return "includedOauth2ProviderConfig"


def _check_url(url: str, what: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigurationError(f"{what} {url!r} must be an https:// URL")
    return url


def create_oauth2_provider(
    name: str, *, vendor: str, client_id: str, ref: SecretRef, discovery_url: str | None = None,
    issuer: str | None = None, authorization_endpoint: str | None = None,
    token_endpoint: str | None = None, client: Any = None, region: str | None = None,
    endpoint_url: str | None = None, session: Any = None, tags: Mapping[str, str] | None = None,
) -> ProviderInfo:
    """Create an OAuth2 credential provider whose client secret lives in your secret (EXTERNAL).

    ``CustomOauth2`` needs ``discovery_url`` or all of ``issuer``,
    ``authorization_endpoint`` and ``token_endpoint``. Vendors AgentCore knows by
    name (``GoogleOauth2``, ``GithubOauth2``, ...) need none; the generic included
    vendors (``OktaOauth2``, ``Auth0Oauth2``, ...) accept the three endpoints.

    Args:
        name: the provider name.
        vendor: the ``credentialProviderVendor``.
        client_id: the OAuth2 client ID.
        ref: the secret's ARN and the JSON key holding the client secret.
        discovery_url: the authorization server's ``.well-known`` document.
        issuer: the issuer, with the two endpoints below, instead of a discovery URL.
        authorization_endpoint: the authorization endpoint.
        token_endpoint: the token endpoint.
        client: a ``bedrock-agentcore-control`` client; default from boto3's config.
        region: the Region, when no client is given.
        endpoint_url: the control plane's endpoint, when no client is given.
        session: a boto3 Session to create the client from.
        tags: tags for the provider.
    """
    validate_provider_name(name)
    if not isinstance(client_id, str) or not client_id:
        raise ConfigurationError("client_id must be the OAuth2 client ID (a non-empty string)")
    client = control_client(client=client, region=region, endpoint_url=endpoint_url,
                            session=session)
    _check_ref(ref, client)
    key = _vendor_key(vendor, client)
    inline = {"issuer": issuer, "authorizationEndpoint": authorization_endpoint,
              "tokenEndpoint": token_endpoint}
    given = {k: _check_url(v, k) for k, v in inline.items() if v is not None}
    config: dict[str, Any] = {
        "clientId": client_id, "clientSecretSource": "EXTERNAL",
        "clientSecretConfig": {"secretId": ref.secret_id, "jsonKey": ref.json_key}}
    if key == "customOauth2ProviderConfig":
        if discovery_url and given:
            raise ConfigurationError(
                "give either discovery_url (--discovery-url) or issuer, authorization_endpoint "
                "and token_endpoint (--issuer/--authorization-endpoint/--token-endpoint), not both")
        if discovery_url:
            config["oauthDiscovery"] = {"discoveryUrl": _check_url(discovery_url, "discovery_url")}
        elif len(given) == 3:
            config["oauthDiscovery"] = {"authorizationServerMetadata": given}
        else:
            raise ConfigurationError(
                "CustomOauth2 needs discovery_url (--discovery-url), or all three of issuer, "
                "authorization_endpoint and token_endpoint")
    elif discovery_url or (given and key != "includedOauth2ProviderConfig"):
        raise ConfigurationError(
            f"vendor {vendor} takes no discovery URL or endpoints (AgentCore knows them); "
            "use CustomOauth2 for your own authorization server")
    else:
        config.update(given)
    params: dict[str, Any] = {"name": name, "credentialProviderVendor": vendor,
                              "oauth2ProviderConfigInput": {key: config}}
    if tags:
        params["tags"] = dict(tags)
    out = _call(f"CreateOauth2CredentialProvider {name!r}", name,
                lambda: client.create_oauth2_credential_provider(**params))
    info = _oauth2_info(out, name)  # the create output may omit what we sent
    return replace(info, vendor=info.vendor or vendor, client_id=info.client_id or client_id)


def describe_provider(
    name: str, *, client: Any = None, region: str | None = None,
    endpoint_url: str | None = None, session: Any = None,
) -> ProviderInfo:
    """The API key or OAuth2 credential provider called ``name``.

    Raises:
        CredentialNotFoundError: neither kind exists under that name in this Region.
    """
    validate_provider_name(name)
    client = control_client(client=client, region=region, endpoint_url=endpoint_url,
                            session=session)
    for getter, info in (("get_api_key_credential_provider", _api_key_info),
                         ("get_oauth2_credential_provider", _oauth2_info)):
        try:
            out = _call(f"{getter} {name!r}", name, lambda g=getter: getattr(client, g)(name=name))
        except CredentialNotFoundError:
            continue
        return info(out, name)
    raise CredentialNotFoundError(
        f"no credential provider {name!r} in {client.meta.region_name}: check the name and "
        "Region (agentcore-auth providers list), or create it with agentcore-auth providers "
        "create-api-key / create-oauth2",
        provider_name=name, source=SOURCE)


def list_providers(
    *, client: Any = None, region: str | None = None, endpoint_url: str | None = None,
    session: Any = None,
) -> list[ProviderInfo]:
    """Every API key and OAuth2 credential provider (name, kind, ARN, vendor), all pages."""
    client = control_client(client=client, region=region, endpoint_url=endpoint_url,
                            session=session)
    found: list[ProviderInfo] = []
    for operation, kind in (("list_api_key_credential_providers", "api_key"),
                            ("list_oauth2_credential_providers", "oauth2")):
        token: str | None = None
        while True:
            params = {"nextToken": token} if token else {}
            out = _call(operation, "-", lambda o=operation, p=params: getattr(client, o)(**p))
            for item in out.get("credentialProviders", []):
                found.append(ProviderInfo(
                    name=item["name"], kind=kind,  # type: ignore[arg-type]
                    arn=item.get("credentialProviderArn"),
                    vendor=item.get("credentialProviderVendor")))
            token = out.get("nextToken")
            if not token:
                break
    return found


def delete_provider(
    name: str, *, client: Any = None, region: str | None = None,
    endpoint_url: str | None = None, session: Any = None,
) -> ProviderInfo:
    """Delete the API key or OAuth2 credential provider ``name``; return what it was.

    A referenced (EXTERNAL) secret is yours and stays; the tokens the vault holds for
    an OAuth2 provider go with it.

    Raises:
        CredentialNotFoundError: neither kind exists under that name in this Region.
    """
    client = control_client(client=client, region=region, endpoint_url=endpoint_url,
                            session=session)
    info = describe_provider(name, client=client)
    operation = ("delete_api_key_credential_provider" if info.kind == "api_key"
                 else "delete_oauth2_credential_provider")
    _call(f"{operation} {name!r}", name, lambda: getattr(client, operation)(name=name))
    return info
