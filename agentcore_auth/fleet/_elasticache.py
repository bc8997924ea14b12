"""ElastiCache IAM authentication: a SigV4-signed token as the password of each new connection.

ElastiCache (Redis OSS 7+ / Valkey) with an IAM-enabled user takes as password a
SigV4 presigned ``GET`` of ``http://<cache name>/?Action=connect&User=<user id>``
(``&ResourceType=ServerlessCache`` for a serverless cache), service
``elasticache``, valid at most 15 minutes, with the scheme stripped. redis-py asks
the credential provider at each new connection (ElastiCache closes IAM-authenticated
connections after 12 hours; the reconnection asks again), so a token is made
when needed and kept until ``refresh_before`` seconds before it expires.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import redis

from .._exceptions import ConfigurationError
from .._redact import default_redactor

__all__ = ["TOKEN_LIFETIME", "ElastiCacheIAMAuth"]

#: Seconds an ElastiCache IAM auth token is valid (its ``X-Amz-Expires``; the service's maximum).
TOKEN_LIFETIME = 900


class ElastiCacheIAMAuth(redis.CredentialProvider):
    """A ``redis.CredentialProvider`` for ElastiCache IAM authentication.

    Give it to the fleet: ``RedisSharedCache("rediss://<endpoint>:6379",
    kms_key_id=..., credential_provider=ElastiCacheIAMAuth("my-cache", "agents-fleet"))``
    (or to any redis-py client as ``credential_provider=``). Each new connection
    logs in as ``user_id`` with a SigV4-signed token, made from the AWS credentials
    of ``session`` and kept until ``refresh_before`` seconds before its 15 minutes
    are up. The token is registered with the default redactor and never shown.

    Args:
        cache_name: the replication group id (or serverless cache name), lower case.
        user_id: the ElastiCache user (IAM-enabled; its user id and name are equal).
        region: the cache's Region (default: the session's).
        serverless: True for an ElastiCache Serverless cache.
        session: a ``boto3.Session`` or ``botocore.session.Session`` (default: a new
            boto3 session: the usual credential chain, e.g. the task or instance role).
        refresh_before: seconds before expiry at which a new token is made (< 900).
        clock: epoch seconds (default ``time.time``); a test moves it to see refreshes.
    """

    def __init__(
        self,
        cache_name: str,
        user_id: str,
        *,
        region: str | None = None,
        serverless: bool = False,
        session: Any = None,
        refresh_before: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for what, value in (("cache_name", cache_name), ("user_id", user_id)):
            if not isinstance(value, str) or not value or value != value.strip():
                raise ConfigurationError(
                    f"{what} must be the ElastiCache {what.replace('_', ' ')}, e.g. 'agents-fleet'"
                )
        if cache_name != cache_name.lower():
            raise ConfigurationError(
                f"cache_name {cache_name!r} must be lower case, as ElastiCache names its caches"
            )
        number = isinstance(refresh_before, int | float) and not isinstance(refresh_before, bool)
        if not number or not 0 <= refresh_before < TOKEN_LIFETIME:
            raise ConfigurationError(
                f"refresh_before must be seconds in [0, {TOKEN_LIFETIME}), not {refresh_before!r}"
            )
        self.cache_name = cache_name
        self.user_id = user_id
        self.serverless = serverless
        self.refresh_before = float(refresh_before)
        self._clock = clock
        self._session = session
        self._region = region
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens_made = 0
        """How many tokens this provider has signed (a refresh makes one)."""

    def __repr__(self) -> str:
        return f"ElastiCacheIAMAuth({self.cache_name!r}, {self.user_id!r})"

    @property
    def expires_at(self) -> float | None:
        """Epoch seconds at which the current token stops being accepted (None: none yet)."""
        return self._expires_at if self._token is not None else None

    def get_credentials(self) -> tuple[str, str]:
        """``(user_id, token)``, the token made now if there is none or it is about to expire."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._expires_at - self.refresh_before:
                self._token = self._sign(now)
                self._expires_at = now + TOKEN_LIFETIME
                self.tokens_made += 1
            return self.user_id, self._token

    async def get_credentials_async(self) -> tuple[str, str]:
        """Async twin of :meth:`get_credentials` (the credential chain may do I/O: a thread)."""
        return await asyncio.to_thread(self.get_credentials)

    def token(self) -> str:
        """The current token (made if needed), e.g. for ``redis-cli --user ... --pass``."""
        return self.get_credentials()[1]

    # --- internals -------------------------------------------------------------------------------

    def _sign(self, now: float) -> str:
        from botocore.awsrequest import AWSRequest

        session = self._botocore_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise ConfigurationError(
                "ElastiCacheIAMAuth found no AWS credentials: give session=, or set the usual "
                "credential chain (role, AWS_PROFILE, environment)"
            )
        region = self._region or session.get_config_variable("region")
        if not region:
            raise ConfigurationError(
                "ElastiCacheIAMAuth needs the cache's Region: region='us-east-1' or AWS_REGION"
            )
        query = {"Action": "connect", "User": self.user_id}
        if self.serverless:
            query["ResourceType"] = "ServerlessCache"
        url = f"http://{self.cache_name}/?{urllib.parse.urlencode(query)}"
        request = AWSRequest(method="GET", url=url)
        signer = _clocked_signer()(
            credentials.get_frozen_credentials(), "elasticache", region, TOKEN_LIFETIME, now
        )
        signer.add_auth(request)
        token = request.url.removeprefix("http://")
        default_redactor().register(token, name="elasticache-iam-token")
        return str(token)

    def _botocore_session(self) -> Any:
        session = self._session
        if session is None:
            import boto3

            session = self._session = boto3.Session()
        return getattr(session, "_session", session)  # boto3's wraps a botocore session


@functools.cache
def _clocked_signer() -> Any:
    """botocore's SigV4 query signer, at a given time (the provider's clock), made once."""
    from botocore.auth import SigV4QueryAuth

    class ClockedQueryAuth(SigV4QueryAuth):  # type: ignore[misc]
        def __init__(
            self, credentials: Any, service: str, region: str, expires: int, now: float
        ) -> None:
            super().__init__(credentials, service, region, expires=expires)
            self._now = now

        def _modify_request_before_signing(self, request: Any) -> None:
            request.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._now))
            super()._modify_request_before_signing(request)

    return ClockedQueryAuth
