"""The doctor: a preflight of a credential provider's referenced secret, as structured results.

:func:`diagnose` answers "will AgentCore Identity be able to read this provider's
secret?" against real AWS or the local emulator, one :class:`Check` per rule of
referenced secrets (see ``CONTEXT.md``): the provider exists and is EXTERNAL; the
secret is in the provider's Region, exists, and holds a non-empty string under the
JSON key (only a fingerprint and a length are reported); its resource policy lets
``bedrock-agentcore.amazonaws.com`` call ``secretsmanager:GetSecretValue``; a
customer managed KMS key lets it call ``kms:Decrypt``; a secret in another account
uses a customer managed key; an OAuth2 workload has a return URL; rotation; tags.
Every failure carries the exact fix (policy JSON and the AWS CLI command).

Clients: the AgentCore control plane and Secrets Manager/KMS clients come from
boto3's configuration (``AWS_ENDPOINT_URL_<SERVICE>`` included). A secret owned by
another account is read with clients for that account: against the emulator
(a loopback endpoint) that is moto's ``x-moto-account-id`` header; against real AWS
it is the caller's own credentials, which the secret's resource policy (and the
key policy) must then allow, or run the doctor with the owning account's profile.
Pass ``clients=`` to supply your own ``(service_name, account_id) -> client``.

Run in-process (a health check) with botocore at DEBUG, the doctor must not log
the secret it reads: :func:`diagnose` installs log redaction before its first
call, which protects every boto3 client (``SecretString`` and each of its JSON
values are registered before botocore logs the response), and the doctor's own
clients are protected from creation.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ._doctor_checks import SERVICE_PRINCIPAL, Check, ClientFactory, DoctorReport, run_checks
from ._exceptions import ConfigurationError
from ._logging import ensure_log_redaction
from .sources._protect import protect_client

__all__ = ["BROKER_PRINCIPAL", "BotoClients", "Check", "ClientFactory", "DoctorReport",
           "SERVICE_PRINCIPAL", "diagnose", "diagnose_broker"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class BotoClients:
    """``(service, account) -> client`` from one boto3 session, cached.

    For another account's resources on a loopback endpoint (the emulator), the
    client sends moto's ``x-moto-account-id`` header; on AWS it uses the caller's
    own credentials.
    """

    def __init__(self, *, region: str, endpoint_url: str | None = None,
                 session: Any = None) -> None:
        import boto3

        self.session = session or boto3.session.Session()
        self.region = region
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str | None], Any] = {}

    def __call__(self, service: str, account: str | None = None) -> Any:
        if (service, account) not in self._clients:
            agentcore = service.startswith("bedrock-agentcore")
            client = protect_client(self.session.client(
                service, region_name=self.region,
                endpoint_url=self.endpoint_url if agentcore else None))
            host = urllib.parse.urlsplit(client.meta.endpoint_url).hostname
            if account is not None and host in _LOOPBACK:
                def add_account(request: Any, **_: Any) -> None:
                    request.headers["x-moto-account-id"] = account

                client.meta.events.register("before-send.*.*", add_account)
            self._clients[(service, account)] = client
        return self._clients[(service, account)]


def diagnose(
    provider_name: str, *, region: str | None = None, endpoint_url: str | None = None,
    session: Any = None, clients: ClientFactory | None = None,
    workload_name: str | None = None,
) -> DoctorReport:
    """Check that AgentCore Identity can read credential provider ``provider_name``'s secret.

    Args:
        provider_name: the credential provider (API key or OAuth2).
        region: the Region; default boto3's.
        endpoint_url: the AgentCore control plane's endpoint (Secrets Manager and KMS
            come from boto3's configuration, e.g. ``AWS_ENDPOINT_URL_SECRETS_MANAGER``).
        session: a boto3 Session for the default clients.
        clients: ``(service_name, account_id or None) -> boto3 client``; ``account_id``
            is set for resources of another account than the provider's.
        workload_name: for OAuth2 providers, the workload identity whose return URLs
            USER_FEDERATION needs.

    Returns:
        The report; it never holds a secret value (only a fingerprint and a length).
    """
    ensure_log_redaction()  # before any call: botocore logs every response body at DEBUG
    if clients is None:
        if region is None:
            from ._aws import configured_region

            region = configured_region(session)
        if not region:
            raise ConfigurationError("no AWS Region configured: pass --region (region=), or set "
                                     "AWS_REGION (AWS_DEFAULT_REGION also works), or set the "
                                     "profile's region")
        clients = BotoClients(region=region, endpoint_url=endpoint_url, session=session)
    if region is None:
        region = str(clients("bedrock-agentcore-control", None).meta.region_name)
    report = DoctorReport(provider_name, region)
    run_checks(report, clients, workload_name)
    return report


BROKER_PRINCIPAL = "credentialbroker.amazonaws.com"


def diagnose_broker(
    provider_name: str, *, pool: str | None = None, region: str | None = None,
    endpoint_url: str | None = None, session: Any = None, clients: ClientFactory | None = None,
) -> DoctorReport:
    """Check that AWS IAM CredentialBroker can read a broker provider's referenced secret.

    The same checks as :func:`diagnose` (Region, existence, JSON key, resource policy,
    KMS key policy, cross-account key, rotation, tags), judged for the principal
    ``credentialbroker.amazonaws.com``. ``provider_name`` is the provider's ARN or its
    name (``pool`` selects the pool when the name is in several); ``endpoint_url`` is
    the broker's control-plane endpoint.
    """
    from ._providers import ProviderInfo
    from .sources import CredentialBrokerSource

    ensure_log_redaction()
    if clients is None:
        if region is None:
            from ._aws import configured_region

            region = configured_region(session)
        if not region:
            raise ConfigurationError("no AWS Region configured: pass --region (region=), or set "
                                     "AWS_REGION")
        clients = BotoClients(region=region, endpoint_url=None, session=session)
    control = clients("credentialbroker-control", None)
    if endpoint_url is not None:
        control = protect_client((session or _boto3_session()).client(
            "credentialbroker-control", region_name=region, endpoint_url=endpoint_url))
    region = region or str(control.meta.region_name)
    source = CredentialBrokerSource(region=region, pool=pool, control_client=control,
                                    client=control)
    report = DoctorReport(provider_name, region)
    arn = source.provider_arn(provider_name)
    pool_id = arn.split("/")[1]
    described = control.get_credential_provider(credentialProviderPoolIdentifier=pool_id,
                                                credentialProviderIdentifier=arn)
    config = described.get("providerConfiguration") or {}
    if "apiKeyConfiguration" in config:
        out = config["apiKeyConfiguration"].get("apiKeySecretOutput") or {}
        info = ProviderInfo(described["name"], "api_key", arn, out.get("apiKeySecretSource"),
                            out.get("apiKeySecretArn"), out.get("apiKeySecretJsonKey"),
                            status=described.get("status"))
    else:
        vendors: dict[str, Any] = (config.get("oauthConfiguration") or {}).get(
            "vendorConfigurationOutput") or {}
        vendor: str = next(iter(vendors), "")
        settings: dict[str, Any] = vendors.get(vendor) or {}
        client = settings.get("clientAuthenticationConfiguration") or {}
        info = ProviderInfo(described["name"], "oauth2", arn, client.get("clientSecretSource"),
                            client.get("clientSecretArn"), client.get("clientSecretJsonKey"),
                            vendor=vendor, client_id=client.get("clientId"),
                            discovery=settings.get("oauthDiscovery") or {},
                            status=described.get("status"))
    run_checks(report, clients, None, principal=BROKER_PRINCIPAL, info=info)
    return report


def _boto3_session() -> Any:
    import boto3

    return boto3.session.Session()
