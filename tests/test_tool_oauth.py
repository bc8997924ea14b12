"""requires_access_token: OAuth2 flows, consent, token pollers, Strands schemas, the canary."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Iterator

import httpx
import pytest

from agentcore_auth import (
    AuthorizationRequiredError,
    ConfigurationError,
    Credential,
    CredentialRejectedError,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Secret,
    identity_context,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth._rejection import redact_url

AUTH_URL = "https://idp.example/authorize?request_uri=urn%3Asession%3ASESSIONREF42&state=st8-xyz"


class OAuthSource:
    """Issues tokens; asks for consent when told to or when forced, until the session is granted."""

    name = "oauth"

    def __init__(self) -> None:
        self.token = "tok-first-0123456789"
        self.consent_needed = False
        self.granted: set[str] = set()
        self.requests: list[CredentialRequest] = []
        self._lock = threading.Lock()

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        with self._lock:
            self.requests.append(request)
        granted = request.session_uri in self.granted
        if (request.force_authentication or self.consent_needed) and not granted:
            raise AuthorizationRequiredError(
                "user consent is required", authorization_url=AUTH_URL,
                session_uri="urn:session:SESSIONREF42", provider_name=request.provider_name,
                source=self.name)
        return Credential(Secret(self.token))

    def grant(self, _url: str = "") -> None:
        self.granted.add("urn:session:SESSIONREF42")


@pytest.fixture
def source() -> OAuthSource:
    return OAuthSource()


@pytest.fixture
def resolver(source: OAuthSource) -> Iterator[CredentialResolver]:
    with CredentialResolver(source, timer=lambda: 0.0,  # type: ignore[arg-type]
                            consent_poll_interval=0) as resolver:
        yield resolver


def refused() -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://api.example/x")
    return httpx.HTTPStatusError("401", request=request,
                                 response=httpx.Response(401, request=request))


def test_m2m_token_injected_and_refetched(source: OAuthSource,
                                          resolver: CredentialResolver) -> None:
    """An M2M token is injected as access_token and refetched (without force) on a 401."""
    seen: list[str] = []

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="M2M",
                           resolver=resolver)
    def tool(repo: str, *, access_token: str) -> str:
        seen.append(access_token)
        if access_token != source.token:
            raise refused()
        return repo

    assert tool("a") == "a"
    source.token = "tok-second-987654321"
    assert tool("b") == "b"
    assert seen == ["tok-first-0123456789", "tok-first-0123456789", "tok-second-987654321"]
    assert [r.force_authentication for r in source.requests] == [False, False]
    assert source.requests[0].scopes == ("repo",)


def test_user_federation_rejection_asks_for_reconsent(source: OAuthSource,
                                                      resolver: CredentialResolver) -> None:
    """A refused USER_FEDERATION token is refetched with forceAuthentication -> re-consent."""
    @requires_access_token(provider_name="github", scopes=["repo"],
                           auth_flow="USER_FEDERATION", resolver=resolver)
    def tool(*, access_token: str) -> str:
        raise refused()

    with identity_context(user_id="alice"), pytest.raises(AuthorizationRequiredError) as info:
        tool()
    assert not isinstance(info.value, CredentialRejectedError)
    assert info.value.authorization_url == AUTH_URL
    assert [r.force_authentication for r in source.requests] == [False, True]


def test_user_federation_needs_an_identity(resolver: CredentialResolver) -> None:
    """Without a user identity, a USER_FEDERATION tool says how to provide one."""
    @requires_access_token(provider_name="github", scopes=["repo"],
                           auth_flow="USER_FEDERATION", resolver=resolver)
    def tool(*, access_token: str) -> str:
        return access_token

    with pytest.raises(ConfigurationError, match="identity_context"):
        tool()


def test_on_auth_url_without_waiting(source: OAuthSource, resolver: CredentialResolver) -> None:
    """wait_for_consent=False: on_auth_url gets the URL, then AuthorizationRequiredError."""
    source.consent_needed = True
    urls: list[str] = []

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                           on_auth_url=urls.append, wait_for_consent=False, resolver=resolver)
    def tool(*, access_token: str) -> str:
        return access_token

    with identity_context(user_id="alice"), pytest.raises(AuthorizationRequiredError):
        tool()
    assert urls == [AUTH_URL]


def test_on_auth_url_then_wait(source: OAuthSource, resolver: CredentialResolver) -> None:
    """With on_auth_url (sync), the service is polled with the session URI until consent."""
    source.consent_needed = True

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                           scrub_result=False, on_auth_url=source.grant, resolver=resolver)
    def tool(*, access_token: str) -> str:
        return access_token

    with identity_context(user_id="alice"):
        assert tool() == source.token
    assert source.requests[-1].session_uri == "urn:session:SESSIONREF42"


async def test_async_on_auth_url_then_wait(source: OAuthSource,
                                           resolver: CredentialResolver) -> None:
    """An async on_auth_url is awaited by an async tool."""
    source.consent_needed = True

    async def show(url: str) -> None:
        await asyncio.sleep(0)
        source.grant(url)

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                           scrub_result=False, on_auth_url=show, resolver=resolver)
    async def tool(*, access_token: str) -> str:
        return access_token

    with identity_context(user_id="alice"):
        assert await tool() == source.token


class Poller:
    """The official SDK's TokenPoller shape."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    async def poll_for_token(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        return self.token


async def test_token_poller_async(source: OAuthSource, resolver: CredentialResolver) -> None:
    """token_poller: on_auth_url first, then the poller's token is injected."""
    source.consent_needed = True
    urls: list[str] = []
    poller = Poller("tok-polled-5555555555")

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                           scrub_result=False, on_auth_url=urls.append, token_poller=poller,
                           resolver=resolver)
    async def tool(*, access_token: str) -> str:
        return access_token

    with identity_context(user_id="alice"):
        assert await tool() == "tok-polled-5555555555"
    assert urls == [AUTH_URL] and poller.calls == 1


@pytest.mark.parametrize("in_loop", [False, True])
def test_token_poller_sync_tool(in_loop: bool, source: OAuthSource,
                                resolver: CredentialResolver) -> None:
    """A sync tool runs the async poller itself, also when called inside a running loop."""
    source.consent_needed = True

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                           scrub_result=False, token_poller=Poller("tok-polled-6666666666"),
                           resolver=resolver)
    def tool(*, access_token: str) -> str:
        return access_token

    async def in_a_loop() -> str:
        return tool()

    with identity_context(user_id="alice"):
        result = asyncio.run(in_a_loop()) if in_loop else tool()
    assert result == "tok-polled-6666666666"


def test_authorization_url_only_at_debug_and_redacted(
    source: OAuthSource, resolver: CredentialResolver, caplog: pytest.LogCaptureFixture
) -> None:
    """The authorization URL is logged at DEBUG only, with its query values blanked."""
    source.consent_needed = True
    caplog.set_level(logging.DEBUG)

    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                           on_auth_url=lambda url: None, wait_for_consent=False,
                           resolver=resolver)
    def tool(*, access_token: str) -> str:
        return access_token

    with identity_context(user_id="alice"), pytest.raises(AuthorizationRequiredError) as info:
        tool()
    assert "SESSIONREF42" not in caplog.text and "st8-xyz" not in caplog.text
    assert "SESSIONREF42" not in str(info.value)
    mentions = [r for r in caplog.records if "idp.example" in r.getMessage()]
    assert mentions and all(r.levelno <= logging.DEBUG for r in mentions)


def test_redact_url() -> None:
    """redact_url keeps scheme, host, path and parameter names, and blanks values."""
    assert redact_url(AUTH_URL) == "https://idp.example/authorize?request_uri=...&state=..."
    assert redact_url("https://idp.example/a") == "https://idp.example/a"


# --- Strands and the canary ----------------------------------------------------------------------


def test_strands_tool_spec_has_only_user_parameters(resolver: CredentialResolver) -> None:
    """A real Strands @tool stacked on top publishes no credential parameter."""
    from strands import tool

    @tool
    @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="M2M",
                           resolver=resolver)
    def list_issues(repo: str, state: str = "open", *, access_token: str) -> str:
        """List issues of a repository.

        Args:
            repo: owner/name.
            state: open or closed.
            access_token: never shown to the model.
        """
        return f"{repo}:{state}:{len(access_token)}"

    @tool
    @requires_api_key(provider_name="weather", resolver=resolver)
    async def forecast(city: str, *, api_key: str) -> str:
        """Forecast for a city."""
        return city

    for spec in (list_issues.tool_spec, forecast.tool_spec):
        schema = spec["inputSchema"]["json"]
        assert "access_token" not in str(spec) and "api_key" not in str(spec)
        assert "access_token" not in schema.get("required", [])
    assert set(list_issues.tool_spec["inputSchema"]["json"]["properties"]) == {"repo", "state"}
    assert set(forecast.tool_spec["inputSchema"]["json"]["properties"]) == {"city"}
    assert list_issues("o/r") == "o/r:open:20"


async def test_canary_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    """A unique value never shows in DEBUG logs, escaping exceptions or the tool schema."""
    from strands import tool

    canary = "canary-" + secrets.token_hex(12)
    source = OAuthSource()
    source.token = canary
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("tests.canary")
    with CredentialResolver(source, timer=lambda: 0.0) as resolver:  # type: ignore[arg-type]
        @tool
        @requires_access_token(provider_name="github", scopes=["repo"], auth_flow="M2M",
                               resolver=resolver)
        async def leaky(q: str, *, access_token: str) -> str:
            """Logs and raises with the token in it."""
            log.debug("calling with %s", access_token)
            log.info(f"bearer {access_token}")  # noqa: G004 - the f-string is the point
            raise RuntimeError(f"boom {access_token}")

        with pytest.raises(RuntimeError) as info:
            await leaky(q="x")
    texts = [caplog.text, str(info.value), repr(info.value.args), str(leaky.tool_spec)]
    assert not [t for t in texts if canary in t]
    assert "[REDACTED:github]" in caplog.text
