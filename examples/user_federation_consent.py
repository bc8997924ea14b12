"""USER_FEDERATION: a user consents once, then the tool gets that user's own token.

Starts LocalAgentCore with its local OAuth2 server, creates a CustomOauth2
credential provider whose client secret is an EXTERNAL (referenced) secret, and
calls a tool decorated with ``requires_access_token(auth_flow="USER_FEDERATION")``
for two users. The first call for each user needs consent: ``on_auth_url`` gets
the authorization URL, which a real app shows to the user; here a stand-in
"browser" follows it (the local IdP approves at once) and the app completes the
session with ``CompleteResourceTokenAuth`` for that same user. The decorator
polls until the token arrives. Later calls are served from the cache, per user.
Tokens are never printed; only fingerprints and the token's ``sub`` claim.

Run it (from a checkout: ``PYTHONPATH=. python examples/user_federation_consent.py``)::

    python examples/user_federation_consent.py

Against real AgentCore, drop LocalAgentCore, create the provider for your IdP,
register your app's return URL on the workload identity, and have ``on_auth_url``
send the URL to the user (chat message, email...); the app calls
``CompleteResourceTokenAuth`` from its OAuth2 return URL handler.
"""

from __future__ import annotations

import secrets
import threading

import httpx

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    Secret,
    identity_context,
    requires_access_token,
)
from agentcore_auth.testing import LocalAgentCore

RETURN_URL = "https://app.example.com/oauth/return"


def main() -> None:
    with LocalAgentCore() as env:
        client_id, client_secret = "calendar-app", "cs-" + secrets.token_hex(16)
        env.register_oauth_client(client_id, client_secret)
        arn = env.create_secret("calendar-client", {"client_secret": client_secret})
        env.client("bedrock-agentcore-control").create_oauth2_credential_provider(
            name="calendar", credentialProviderVendor="CustomOauth2",
            oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
                "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
                "clientId": client_id, "clientSecretSource": "EXTERNAL",
                "clientSecretConfig": {"secretId": arn, "jsonKey": "client_secret"}}})
        api_url = env.protected_oauth_api()
        workload = env.create_workload(return_urls=[RETURN_URL])
        source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                         workload_name=workload)
        browsers: list[threading.Thread] = []

        def show_to_user(url: str) -> None:
            # A real app sends this link to the user. The session parts are sensitive:
            # never log the URL above DEBUG.
            user = current_user[0]
            print(f"  consent needed for {user}: sent them the authorization link")
            browser = threading.Thread(target=env.complete_consent, args=(url,),
                                       kwargs={"user_id": user})
            browsers.append(browser)
            browser.start()

        current_user = [""]
        with CredentialResolver(source, consent_poll_interval=0.1) as resolver:

            @requires_access_token(provider_name="calendar", scopes=["calendar.read"],
                                   auth_flow="USER_FEDERATION", callback_url=RETURN_URL,
                                   on_auth_url=show_to_user, resolver=resolver)
            def todays_events(*, access_token: str) -> str:
                """The user's events today."""
                response = httpx.get(api_url,
                                     headers={"Authorization": f"Bearer {access_token}"})
                response.raise_for_status()
                sub = env.validate_oauth_token(access_token)["sub"]
                return f"HTTP {response.status_code}, token {Secret(access_token).fingerprint} " \
                       f"for sub={sub}"

            for user in ("alice", "bob", "alice"):
                current_user[0] = user
                with identity_context(user_id=user):
                    print(f"{user}: {todays_events()}")
            for browser in browsers:
                browser.join()
            stats = resolver.stats
            print(f"consents: {len(browsers)}; cache: {stats.hits} hit(s), "
                  f"{stats.upstream_calls} upstream call(s)")
            print(f"GetResourceOauth2Token calls: {env.call_count('GetResourceOauth2Token')}, "
                  f"CompleteResourceTokenAuth calls: {env.call_count('CompleteResourceTokenAuth')}")


if __name__ == "__main__":
    main()
