"""Helpers for testing agents against LocalAgentCore: set-ups in one call, a manual clock."""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
from typing import Any

from ._secrets import BROKER_PRINCIPAL, SERVICE_PRINCIPAL

__all__ = ["ManualClock", "ProviderHelpers", "fake_aws_environ"]


class ManualClock:
    """A monotonic clock that moves only when told: pass it as ``timer=`` to a resolver.

    Example:
        >>> clock = ManualClock()
        >>> resolver = CredentialResolver(source, ttl=60, timer=clock)
        >>> clock.advance(61)  # the cached credential is now expired
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def fake_aws_environ() -> dict[str, str | None]:
    """The environment changes that isolate a test from real AWS (None: remove the variable).

    Every ``AWS_*`` variable is removed, then fake keys, a Region and
    ``AWS_EC2_METADATA_DISABLED`` are set, as httpx's ``clean_environ`` does for proxies.
    """
    changes: dict[str, str | None] = {name: None for name in os.environ if name.startswith("AWS_")}
    changes.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    return changes


class ProviderHelpers:
    """One-call set-ups (providers, keys, workloads, consent), mixed into LocalAgentCore."""

    def create_api_key_provider(
        self, value: str, *, name: str | None = None, json_key: str = "api_key",
        **secret_kwargs: Any,
    ) -> tuple[str, str]:
        """An EXTERNAL API key provider referencing a new secret holding ``value``.

        Args:
            value: the API key.
            name: the provider's name (unique by default).
            json_key: the key inside the secret's JSON.
            **secret_kwargs: passed to :meth:`create_secret` (``kms_key_id=``,
                ``policy=``, ``account_id=``).

        Returns:
            ``(provider name, secret ARN)``.
        """
        env: Any = self
        arn = env.create_secret(env.unique_name("key"), {json_key: value}, **secret_kwargs)
        name = name or env.unique_name("apikey")
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name=name, apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": json_key})
        return name, arn

    def create_oauth2_provider(
        self, *, name: str | None = None, client_id: str | None = None,
        client_secret: str | None = None, **secret_kwargs: Any,
    ) -> tuple[str, str, str]:
        """A CustomOauth2 provider on the local OAuth2 server, its client secret EXTERNAL.

        The client is registered with the local server, its secret stored in a new
        Secrets Manager secret under ``client_secret``, and the provider found by
        discovery. Rotate with :meth:`rotate_oauth2_client`.

        Returns:
            ``(provider name, client id, client secret ARN)``.
        """
        env: Any = self
        client_id = client_id or env.unique_name("client")
        client_secret = client_secret or "cs-" + secrets.token_hex(16)
        env.register_oauth_client(client_id, client_secret)
        arn = env.create_secret(env.unique_name("client-secret"),
                                {"client_secret": client_secret}, **secret_kwargs)
        name = name or env.unique_name("oauth")
        env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
            name=name, credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": client_id, "clientSecretSource": "EXTERNAL",
                "clientSecretConfig": {"secretId": arn, "jsonKey": "client_secret"}}})
        return name, client_id, arn

    def rotate_oauth2_client(self, client_id: str, arn: str, client_secret: str) -> None:
        """Rotate a client secret at the local IdP and in its referenced secret."""
        env: Any = self
        env.rotate_secret(arn, {"client_secret": client_secret})
        env.register_oauth_client(client_id, client_secret)

    def rotate_secret(self, arn: str, value: dict[str, Any] | str) -> str:
        """Put a new AWSCURRENT value into a secret; return the new version id.

        Like any write, it puts the ``PutSecretValue`` event on the account's default
        event bus (what a rule routes to a :class:`~agentcore_auth.RotationWatcher`'s queue).
        """
        env: Any = self
        account = arn.split(":")[4] if arn.startswith("arn:") else None
        text = value if isinstance(value, str) else json.dumps(value)
        response = env.access.client("secretsmanager", account).put_secret_value(
            SecretId=arn, SecretString=text)
        env.secret_events.api_call("PutSecretValue", account=account or env.account_id,
                                   region=env.region, parameters={"SecretId": arn},
                                   response=response)
        return str(response["VersionId"])

    def create_kms_key(self, *, grant_service: bool = True, account_id: str | None = None) -> str:
        """A customer managed KMS key; by default its policy grants the service ``kms:Decrypt``."""
        env: Any = self
        account = account_id or env.account_id
        statements: list[dict[str, Any]] = [{
            "Sid": "EnableRoot", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
            "Resource": "*"}]
        if grant_service:
            statements.append({"Sid": "AllowAgentCoreIdentity", "Effect": "Allow",
                               "Principal": {"Service": [SERVICE_PRINCIPAL, BROKER_PRINCIPAL]},
                               "Action": "kms:Decrypt", "Resource": "*"})
        kms = env.access.client("kms", account)
        policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
        return str(kms.create_key(Policy=policy)["KeyMetadata"]["Arn"])

    def create_workload(self, name: str | None = None, return_urls: list[str] | None = None) -> str:
        """Create a workload identity (a unique name by default); return its name."""
        env: Any = self
        name = name or env.unique_name("workload")
        env._helper("bedrock-agentcore-control").create_workload_identity(
            name=name, allowedResourceOauth2ReturnUrls=list(return_urls or []))
        return name

    def workload_token(self, workload: str | None = None, *, user_id: str | None = None,
                       user_token: str | None = None) -> str:
        """A workload access token (creating a workload identity when none is named)."""
        env: Any = self
        workload = workload or env.create_workload()
        data = env._helper("bedrock-agentcore")
        if user_token is not None:
            response = data.get_workload_access_token_for_jwt(workloadName=workload,
                                                              userToken=user_token)
        elif user_id is not None:
            response = data.get_workload_access_token_for_user_id(workloadName=workload,
                                                                  userId=user_id)
        else:
            response = data.get_workload_access_token(workloadName=workload)
        return str(response["workloadAccessToken"])

    def authorize_in_browser(self, authorization_url: str, *,
                             user_id: str | None = None) -> Any:
        """Play only the user's browser in a USER_FEDERATION consent; return the app's answer.

        Follows the emulator's and the local IdP's redirects (the user signs in and
        consents: as ``user_id`` when given, else as the user the session was started
        for), then requests the application's return URL, ``?session_id=`` included,
        as a browser landing there would, and returns that response (an
        ``httpx.Response``; ``response.url`` is where the browser landed). It does
        **not** call ``CompleteResourceTokenAuth``: completing the session is the
        application's return-URL handler's job, so a test using this helper fails when
        the application forgets it. :meth:`complete_consent` plays the browser *and*
        the application's half, for tests that are not about the application.

        Raises:
            httpx.HTTPError: nothing listens at the return URL (as a browser would show).
        """
        import httpx

        landed, last = self._browse(authorization_url, login_hint=user_id)
        if landed is None:
            return last  # no return URL: the browser stays on the emulator's own page
        with httpx.Client(timeout=10.0) as http:
            return http.get(landed)

    def complete_consent(self, authorization_url: str, *, user_id: str | None = None,
                         user_token: str | None = None) -> str:
        """Consent as the user's browser would, then call CompleteResourceTokenAuth.

        Follows the redirects from the local IdP through the emulator's callback up to
        the app's return URL (not fetched), then completes the session for ``user_id``
        or ``user_token`` (default: the user the session was started for), playing the
        application's return-URL handler too. To test an application's own handler, use
        :meth:`authorize_in_browser`, which stops at the browser's half.

        Returns:
            The session URI, to pass to ``GetResourceOauth2Token(sessionUri=...)``.
        """
        env: Any = self
        self._browse(authorization_url)
        session_uri, region, started_by = env._session_of(authorization_url)
        if user_token is not None:
            identifier = {"userToken": user_token}
        elif user_id is not None or isinstance(started_by, str):
            identifier = {"userId": user_id or str(started_by)}
        else:
            identifier = {"userToken": started_by[1]}
        data = (env._helper("bedrock-agentcore") if region == env.region
                else env.client("bedrock-agentcore", region_name=region))
        data.complete_resource_token_auth(userIdentifier=identifier, sessionUri=session_uri)
        return str(session_uri)

    def _browse(self, authorization_url: str, *,
                login_hint: str | None = None) -> tuple[str | None, Any]:
        """Follow the emulator's and the IdP's redirects up to the app's return URL.

        Returns (the return URL the browser is sent to, or None when the flow ended on
        the emulator's own page; the last response the emulator or the IdP gave).
        """
        env: Any = self
        import httpx

        ours = (env.oauth.issuer, env.endpoint_url)
        url = authorization_url
        with httpx.Client(timeout=10.0) as http:
            for _ in range(10):
                if login_hint is not None and url.startswith(env.oauth.issuer):
                    parts = urllib.parse.urlsplit(url)
                    query = dict(urllib.parse.parse_qsl(parts.query))
                    query["login_hint"] = login_hint
                    url = parts._replace(query=urllib.parse.urlencode(query)).geturl()
                response = http.get(url)
                if not response.is_redirect:
                    response.raise_for_status()
                    return None, response
                url = urllib.parse.urljoin(url, response.headers["location"])
                if not url.startswith(ours):
                    return url, response  # the app's return URL: the browser lands there
        raise RuntimeError(f"more than 10 redirects from {authorization_url!r}")

    def _session_of(self, authorization_url: str) -> tuple[str, str, str | tuple[str, str]]:
        """(session URI, Region, who started it) of a consent session's authorization URL.

        Who: the ``userId``, or ``("jwt", user JWT)`` for a session started with a JWT.
        """
        env: Any = self
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorization_url).query))
        for region in env.regions.names():
            store = env.regions.store(region)
            with store.lock:
                uri = query.get("request_uri") or store.sessions_by_state.get(
                    query.get("state", ""), "")
                session = store.sessions.get(uri)
                if session is not None:
                    if session.issuer and session.user_token:
                        return uri, region, ("jwt", session.user_token)
                    return uri, region, session.user_id
        raise ValueError("the authorization URL does not belong to a session of this emulator")
