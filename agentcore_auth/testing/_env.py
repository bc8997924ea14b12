"""LocalAgentCore: the whole local stack, started and stopped as one context manager.

moto keeps its backends in process-wide globals, so every moto server in one
process shares one Secrets Manager and KMS. LocalAgentCore therefore resets moto
(``/moto-api/reset``) when the first live instance starts and when the last one
stops, and names everything it creates itself uniquely (managed secrets get a
random suffix). Two instances alive at once share AWS state but nothing else;
sequential instances start clean. ``moto.mock_aws`` used elsewhere in the same
process resets the same globals.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import threading
import time
from typing import Any

from ._api import ProtectedApi
from ._broker import BrokerService
from ._broker_helpers import BrokerHelpers
from ._events import SecretEvents
from ._front import AwsFront
from ._helpers import ProviderHelpers
from ._identity import IdentityService, Regions
from ._isolation import PROFILE, AwsFiles
from ._oauth import OAuthServer
from ._secrets import BROKER_PRINCIPAL, SERVICE_PRINCIPAL, SecretAccess
from ._server import MotoServer
from ._state import Counters, Faults, Settings, Store
from ._sts import WebIdentityFederation
from ._trust import TrustedIssuers

__all__ = ["DEFAULT_RETURN_URL", "DEFAULT_WORKLOAD", "GRANT_SERVICE", "LocalAgentCore"]

logger = logging.getLogger("agentcore_auth.testing")

GRANT_SERVICE = "grant-service"
"""Default ``policy=`` of :meth:`LocalAgentCore.create_secret`: grant the service principal."""

DEFAULT_WORKLOAD = "local-agent"
"""The workload identity every LocalAgentCore creates (``AGENTCORE_AUTH_WORKLOAD_NAME``)."""

DEFAULT_RETURN_URL = "http://localhost:8081/oauth2/callback"
"""The OAuth2 return URL the default workload identity allows (USER_FEDERATION)."""

_AWS_SERVICES = ("secretsmanager", "kms", "sts", "iam", "credentialbroker",
                 "credentialbroker-control", "sqs", "events")
"""The AWS services served at :attr:`LocalAgentCore.aws_endpoint_url` (the front of moto).

A service the emulator grows is added here, and routed in the front (``_front.py``):
:meth:`~._front.AwsFront.route` for an operation moto lacks, ``route_service`` for a
service moto lacks, ``observe`` to react to an operation moto served. SQS and
EventBridge are moto's; Secrets Manager's writes put their events on the default bus
(``_events.py``).
"""
_ACCOUNT_ID = "123456789012"  # moto's default account
_live = 0
_live_lock = threading.Lock()


@functools.cache
def endpoint_variable(service_name: str) -> str:
    """boto3's per-service endpoint variable: ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` and so on."""
    from botocore.loaders import create_loader

    service_id = create_loader().load_service_model(service_name, "service-2")[
        "metadata"]["serviceId"]
    return "AWS_ENDPOINT_URL_" + re.sub(r"[\s-]+", "_", service_id).upper()


class LocalAgentCore(ProviderHelpers, BrokerHelpers):
    """AgentCore Identity, Secrets Manager, KMS, STS, IAM, SQS, EventBridge, CredentialBroker,
    an OAuth2 server and a protected API.

    Every write to a secret (``PutSecretValue``, ``UpdateSecret``, ``RotateSecret``,
    ``UpdateSecretVersionStage``, :meth:`rotate_secret`) puts its CloudTrail-shaped
    ``aws.secretsmanager`` event on the account's default event bus, so an EventBridge
    rule with an SQS target delivers it (see :class:`agentcore_auth.RotationWatcher`).

    Everything listens on 127.0.0.1 on free ports. Use it as a context manager, or
    call :meth:`start` and :meth:`stop`.

    Resources belong to a Region, as in the service: ``region`` is the default one
    (of :meth:`client`, :meth:`env_vars` and the helpers); a client signing for another
    Region gets that Region's (initially empty) control and data planes.

    Args:
        region: the default Region.
        token_lifetime: lifetime in seconds of the OAuth2 server's access tokens.
        workload_token_lifetime: lifetime in seconds of workload access tokens.
        workload_name: the workload identity created at start (``None``: none).
        return_urls: the OAuth2 return URLs that workload identity allows.
        consent_session_lifetime: seconds a USER_FEDERATION session stays usable
            (also settable later: ``env.settings.consent_session_lifetime``).

    Example:
        >>> with LocalAgentCore() as env:  # doctest: +SKIP
        ...     arn = env.create_secret("weather", {"key": "sk-1"})
        ...     env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        ...         name="weather", apiKeySecretSource="EXTERNAL",
        ...         apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    """

    def __init__(self, region: str = "us-east-1", *, token_lifetime: int = 3600,
                 workload_token_lifetime: int = 900,
                 workload_name: str | None = DEFAULT_WORKLOAD,
                 return_urls: tuple[str, ...] | list[str] = (DEFAULT_RETURN_URL,),
                 consent_session_lifetime: float = 600.0) -> None:
        self.region = region
        self.account_id = _ACCOUNT_ID
        self.workload_name = workload_name
        self.return_urls = list(return_urls)
        self.counters = Counters()
        self.faults = Faults()
        self.settings = Settings(consent_session_lifetime=consent_session_lifetime)
        self._token_lifetime = token_lifetime
        self._workload_token_lifetime = workload_token_lifetime
        self._started = False
        self.startup_seconds = 0.0
        self._client_lock = threading.Lock()
        self._helper_clients: dict[str, Any] = {}

    def _helper(self, service_name: str) -> Any:
        """A cached client of the default account, for the helpers below."""
        if service_name not in self._helper_clients:
            self._helper_clients[service_name] = self.client(service_name)
        return self._helper_clients[service_name]

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> LocalAgentCore:
        """Start every server; return self."""
        global _live
        if self._started:
            return self
        began = time.perf_counter()
        try:
            self._moto = MotoServer()
        except ModuleNotFoundError as exc:
            from . import missing_extra_hint

            if (hint := missing_extra_hint(exc)) is None:
                raise
            raise ModuleNotFoundError(hint, name=exc.name) from exc
        with _live_lock:
            if _live == 0:
                self._moto.reset()
            _live += 1
        try:
            self.regions = Regions(self._moto.url, self.account_id, self.region)
            self.front = AwsFront(self._moto.url, self.region, self.account_id)
            #: STS GetWebIdentityToken and IAM outbound web identity federation (``_sts.py``).
            self.web_identity = WebIdentityFederation(self.front, self.counters, self.faults)
            self.secret_events = SecretEvents(
                lambda account, region: self.regions.access(region).client("events", account))
            self.secret_events.install(self.front)
            self.oauth = OAuthServer(self.counters, self.faults, self._token_lifetime)
            self._api = ProtectedApi(self.counters, self.faults, self._owner_read, self.oauth)
            self.trusted_issuers = TrustedIssuers(self.oauth.issuer, self.oauth.verify_user_token)
            self._identity = IdentityService(self.regions, self.oauth, self.counters,
                                             self.faults, self._workload_token_lifetime,
                                             self.trusted_issuers, self.settings)
            self.broker = BrokerService(self.regions, self.oauth, self.counters, self.faults,
                                        self.settings)
            # both planes sign as credentialbroker; the broker tells them apart by path
            self.front.route_service("credentialbroker", self.broker.handle)
            self._files = AwsFiles(self.region)
            if self.workload_name:
                self.create_workload(self.workload_name, self.return_urls)
        except BaseException:
            self._started = True
            self.stop()
            raise
        self._started = True
        self.startup_seconds = time.perf_counter() - began
        logger.info("LocalAgentCore started in %.2fs: identity %s, aws %s, oauth2 %s",
                    self.startup_seconds, self.endpoint_url, self.aws_endpoint_url,
                    self.oauth.issuer)
        return self

    def stop(self) -> None:
        """Stop every server (and reset moto if no other instance is alive)."""
        global _live
        if not self._started:
            return
        self._started = False
        for server in ("_identity", "_api", "oauth", "web_identity", "front"):
            if server in self.__dict__:
                getattr(self, server).stop()
        if "_files" in self.__dict__:
            self._files.remove()
        with _live_lock:
            _live -= 1
            if _live == 0:
                try:
                    self._moto.reset()
                except OSError:
                    logger.debug("could not reset moto on stop")
        self._moto.stop()

    def __enter__(self) -> LocalAgentCore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- state ----------------------------------------------------------------------------

    @property
    def access(self) -> SecretAccess:
        """How the service reads secrets in the default Region."""
        return self.regions.access(self.region)

    @property
    def store(self) -> Store:
        """The control and data planes' state in the default Region."""
        return self.regions.store(self.region)

    # --- endpoints and clients ------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """AgentCore Identity, both planes (``bedrock-agentcore`` and ``-control``)."""
        return self._identity.url

    @property
    def aws_endpoint_url(self) -> str:
        """Every emulated AWS service (Secrets Manager, KMS, STS...): the front of moto."""
        return self.front.url

    @property
    def oauth_issuer(self) -> str:
        """The local OAuth2 server's issuer (its base URL)."""
        return self.oauth.issuer

    @property
    def oauth_discovery_url(self) -> str:
        """The local OAuth2 server's ``/.well-known/openid-configuration``."""
        return self.oauth.discovery_url

    def client(self, service_name: str, *, account_id: str | None = None, **kwargs: Any) -> Any:
        """A boto3 client for one of the emulated services, with dummy credentials.

        Args:
            service_name: one of the AWS services the emulator serves (``secretsmanager``,
                ``kms``, ``sts``...), ``bedrock-agentcore`` or ``bedrock-agentcore-control``.
            account_id: act as this account (AWS services only; moto's account header).
            **kwargs: passed to ``boto3.session.Session.client`` (``config=`` and so on).
        """
        if service_name in _AWS_SERVICES:
            url = self.aws_endpoint_url
        elif service_name in ("bedrock-agentcore", "bedrock-agentcore-control"):
            url = self.endpoint_url
        else:
            raise ValueError(f"LocalAgentCore does not emulate {service_name!r}")
        options: dict[str, Any] = {"region_name": self.region, "aws_access_key_id": "testing",
                                   "aws_secret_access_key": "testing", "endpoint_url": url}
        with self._client_lock:  # creating clients from one session is not thread-safe
            client = self.access.boto_session().client(service_name, **(options | kwargs))
        if service_name in _AWS_SERVICES:
            account = account_id or self.account_id

            def add_account(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            client.meta.events.register("before-send.*.*", add_account)
        return client

    def session(self) -> Any:
        """A boto3 Session with the emulator's dummy keys and Region, blind to ``~/.aws``.

        For ``AgentCoreIdentitySource(session=env.session(), endpoint_url=env.endpoint_url)``
        and the like; pass ``endpoint_url=`` to its clients (or use :meth:`client`).
        """
        from ._isolation import isolated_session

        return isolated_session(region_name=self.region, aws_access_key_id="testing",
                                aws_secret_access_key="testing")

    @property
    def access_key_ids(self) -> set[str]:
        """The access key ids that signed requests to AgentCore Identity (hermeticity tests)."""
        return self._identity.signers()

    def env_vars(self) -> dict[str, str]:
        """Environment variables that point boto3, the AWS CLI and agentcore-auth here.

        Set together, they win over whatever the shell holds: the config and
        credentials files are the emulator's own (profile ``agentcore-local``), keys
        are dummies and ``AWS_SESSION_TOKEN`` is blank, so a user's profile, config
        file or real credentials neither break the emulator nor reach it.
        ``AGENTCORE_AUTH_WORKLOAD_NAME`` names the default workload identity.
        """
        workload = {"AGENTCORE_AUTH_WORKLOAD_NAME": self.workload_name} if self.workload_name \
            else {}
        return {
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": self.endpoint_url,
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL": self.endpoint_url,
            **{endpoint_variable(name): self.aws_endpoint_url for name in _AWS_SERVICES},
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "",
            "AWS_PROFILE": PROFILE,
            "AWS_CONFIG_FILE": self._files.config_file,
            "AWS_SHARED_CREDENTIALS_FILE": self._files.credentials_file,
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false",
            "AWS_EC2_METADATA_DISABLED": "true",
            **workload,
        }

    # --- counters and faults --------------------------------------------------------------

    def call_count(self, operation: str) -> int:
        """Calls of an operation (``GetResourceApiKey``), ``OAuth2Token`` or ``ProtectedApi``."""
        return self.counters.get(operation)

    def reset_counts(self) -> None:
        """Set every call count back to zero."""
        self.counters.reset()

    def inject_fault(self, operation: str, error: str | None = "ThrottlingException", *,
                     rate: float = 1.0, latency: float = 0.0, count: int | None = None,
                     every: int | None = None, seed: int | None = 0) -> None:
        """Make some calls of ``operation`` slow or fail (see :class:`~._state.Faults`).

        Args:
            operation: an operation name, ``OAuth2Token`` or ``ProtectedApi``.
            error: the error code to answer with (``ThrottlingException``,
                ``InternalServerException``, ...), or ``None`` for latency only.
            rate: the fraction of calls that fail, drawn from ``random.Random(seed)``.
            latency: seconds to wait before answering the calls that fire.
            count: fire at most this many times.
            every: fire on every N-th call instead of at random.
            seed: the seed of the random draw (deterministic by default).
        """
        self.faults.inject(operation, error=error, rate=rate, latency=latency, count=count,
                           every=every, seed=seed)

    def clear_faults(self, operation: str | None = None) -> None:
        """Remove the faults of ``operation``, or all of them."""
        self.faults.clear(operation)

    def faults_injected(self, operation: str | None = None) -> int:
        """How many injected faults fired for ``operation`` (or in all) since start-up."""
        return self.faults.fired(operation)

    # --- OAuth2 and the protected API -----------------------------------------------------

    def register_oauth_client(self, client_id: str, client_secret: str) -> int:
        """Add an OAuth2 client, or rotate its secret; return the secret's generation."""
        return self.oauth.register_client(client_id, client_secret)

    def issue_user_token(self, sub: str, *, lifetime: int | None = None) -> str:
        """A user JWT signed by the local OAuth2 server (for ``...ForJWT`` and token exchange)."""
        return self.oauth.issue_user_token(sub, lifetime)

    def trust_issuer(self, issuer: str, *, key: bytes | str | None = None,
                     jwks: dict[str, Any] | None = None,
                     audiences: list[str] | None = None) -> None:
        """Let ``GetWorkloadAccessTokenForJWT`` accept JWTs of another issuer.

        On AWS this is the agent's inbound authorizer (discovery URL, allowed
        audiences). Tokens must be signed: HS256 with ``key``, or RS256 with a key
        of ``jwks`` (``{"keys": [{"kty": "RSA", "kid": ..., "n": ..., "e": ...}]}``);
        ``alg: none`` and expired tokens are refused. The local OAuth2 server's
        issuer is trusted from the start.
        """
        self.trusted_issuers.trust(issuer, key=key, jwks=jwks, audiences=audiences)

    def revoke_consent(self, user: str) -> int:
        """Withdraw user ``user``'s grants at the local IdP (their refresh tokens).

        The vault's next refresh for that user fails, so the service asks the user to
        consent again. Returns how many refresh tokens were revoked.
        """
        return self.oauth.revoke(user)

    def oauth_requests(self, endpoint: str = "/token") -> list[list[tuple[str, str]]]:
        """The parameters the local OAuth2 server received at ``endpoint``, secrets redacted."""
        return self.oauth.requests(endpoint)

    def validate_oauth_token(self, token: str, *, audience: str | None = None,
                             scopes: list[str] | None = None) -> dict[str, Any]:
        """The claims of a token the local OAuth2 server issued, if still acceptable."""
        return self.oauth.validate(token, audience=audience, scopes=scopes)

    def protected_api(self, secret_id: str, json_key: str, header: str = "x-api-key") -> str:
        """A URL answering 200 only to the secret's current value in ``header``, else 401."""
        return self._api.add_key_route(secret_id, json_key, header)

    def protected_oauth_api(self, audience: str | None = None,
                            scopes: list[str] | None = None) -> str:
        """A URL answering 200 only to current bearer tokens of the local OAuth2 server."""
        return self._api.add_bearer_route(audience, scopes)

    def _owner_read(self, secret_id: str, json_key: str) -> str | None:
        try:
            text = self.access.read_as_owner(secret_id)
            value = json.loads(text).get(json_key) if text else None
        except Exception:
            return None
        return value if isinstance(value, str) else None

    # --- helpers for tests ----------------------------------------------------------------

    @staticmethod
    def unique_name(prefix: str = "test") -> str:
        """``prefix`` plus a random suffix, valid as a provider, workload or secret name."""
        return f"{prefix}-{secrets.token_hex(4)}"

    def create_secret(self, name: str, value: dict[str, Any] | str | bytes, *,
                      kms_key_id: str | None = None, policy: object = GRANT_SERVICE,
                      account_id: str | None = None) -> str:
        """Create a secret (JSON, text or binary) and return its ARN.

        Args:
            name: the secret's name.
            value: a dict (stored as JSON), a string or bytes (SecretBinary).
            kms_key_id: a KMS key to encrypt it with (default: the AWS managed key).
            policy: a resource policy (dict or JSON); by default one granting
                ``bedrock-agentcore.amazonaws.com`` and ``credentialbroker.amazonaws.com``
                ``secretsmanager:GetSecretValue``;
                ``None`` for no policy.
            account_id: create it in another account (same Region).
        """
        sm = self.access.client("secretsmanager", account_id)
        args: dict[str, Any] = {"Name": name}
        if isinstance(value, bytes):
            args["SecretBinary"] = value
        else:
            args["SecretString"] = value if isinstance(value, str) else json.dumps(value)
        if kms_key_id:
            args["KmsKeyId"] = kms_key_id
        arn = str(sm.create_secret(**args)["ARN"])
        if policy == GRANT_SERVICE:
            policy = {"Version": "2012-10-17", "Statement": [{
                "Sid": "AllowAgentCoreIdentity", "Effect": "Allow",
                "Principal": {"Service": [SERVICE_PRINCIPAL, BROKER_PRINCIPAL]},
                "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
        if policy is not None:
            text = policy if isinstance(policy, str) else json.dumps(policy)
            sm.put_resource_policy(SecretId=arn, ResourcePolicy=text)
        return arn
