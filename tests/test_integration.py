"""The integration kit (agentcore_auth.integration) on the emulator: sessions, hooks, lookups."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agentcore_auth import (
    AccessDeniedError,
    AgentCoreIdentitySource,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialRejectedError,
    CredentialResolver,
    Redactor,
    Secret,
    current_identity,
    identity_context,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSession,
    ConsentSessions,
    ConsentSessionStore,
    IdentityKeys,
    InMemoryConsentSessionStore,
    consent_handler,
    credential_requirements,
    find_exception,
    identity_from,
    identity_scope,
    rejection_handler,
    scrub_error,
    scrub_result,
    user_token_fingerprint,
)
from agentcore_auth.testing import LocalAgentCore, ManualClock

RETURN_URL = "https://app.example.com/oauth/return"


def leaked(value: str, *texts: str) -> list[str]:
    """Every encoding of ``value`` the redactor knows that shows up in ``texts``."""
    return [p for p in secret_patterns(value) for text in texts if p in text]


@dataclass
class World:
    env: LocalAgentCore
    files: str  # a USER_FEDERATION provider
    weather: str  # an API key provider
    key: str
    resolver: CredentialResolver

    def browse(self, authorization_url: str) -> str:
        """Consent in the 'browser' up to the app's return URL; return its session_id."""
        url = authorization_url
        with httpx.Client(timeout=10.0) as http:
            while not url.startswith(RETURN_URL):
                url = urllib.parse.urljoin(url, http.get(url).headers["location"])
        return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["session_id"][0]

    def pending(self, **identity: str) -> AuthorizationRequiredError:
        with pytest.raises(AuthorizationRequiredError) as info:
            self.resolver.get_oauth2_token(self.files, scopes=["files"],
                                           auth_flow="USER_FEDERATION", callback_url=RETURN_URL,
                                           **identity)
        return info.value


@pytest.fixture
def world(local_agentcore: LocalAgentCore) -> Iterator[World]:
    env = local_agentcore
    client_id, client_secret = env.unique_name("client"), env.unique_name("secret")
    env.register_oauth_client(client_id, client_secret)
    control = env.client("bedrock-agentcore-control")
    files = env.unique_name("files")
    control.create_oauth2_credential_provider(
        name=files, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": env.oauth_discovery_url},
            "clientId": client_id, "clientSecret": client_secret}})
    weather, key = env.unique_name("weather"), "sk-" + env.unique_name("key")
    arn = env.create_secret(weather, {"key": key})
    control.create_api_key_credential_provider(
        name=weather, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                     workload_name=env.create_workload(return_urls=[RETURN_URL]))
    with CredentialResolver(source, timer=lambda: 0.0) as resolver:
        yield World(env, files, weather, key, resolver)


def completions(world: World) -> int:
    return world.env.call_count("CompleteResourceTokenAuth")


def test_sessions_complete_only_for_the_user_who_started_them(world: World) -> None:
    """Another user, both ids, none, an unknown session: refused before the service is called."""
    sessions = ConsentSessions(world.resolver)
    with identity_context(user_id="alice"):
        pending = world.pending()
        session = sessions.remember(pending)  # the ambient identity is the user
    assert session is not None and session.user_id == "alice"
    assert session.provider_name == world.files
    uri = world.browse(pending.authorization_url)
    assert uri == pending.session_uri
    before = completions(world)
    for attempt in ({"user_id": "mallory"}, {"user_token": "a-token-of-someone-else"}, {},
                    {"user_id": "alice", "user_token": "also-a-token-123"}):
        with pytest.raises(AccessDeniedError, match="another user"):
            sessions.complete(uri, **attempt)
    with pytest.raises(AccessDeniedError, match="not started here"):
        sessions.complete("urn:ietf:params:oauth:request_uri:unknown", user_id="alice")
    assert completions(world) == before

    sessions.complete(uri, user_id="alice")
    assert completions(world) == before + 1
    with pytest.raises(AccessDeniedError):  # done: forgotten
        sessions.complete(uri, user_id="alice")
    token = world.resolver.get_oauth2_token(world.files, scopes=["files"],
                                            auth_flow="USER_FEDERATION", user_id="alice",
                                            callback_url=RETURN_URL)
    assert world.env.validate_oauth_token(token.reveal())["sub"] == "alice"


async def test_a_jwt_bound_session_keeps_a_fingerprint_only(world: World) -> None:
    """Started for a JWT: stored as a fingerprint; completed with that JWT, async."""
    jwt = world.env.issue_user_token("erin")
    sessions = ConsentSessions(client=world.env.client("bedrock-agentcore"))
    wat = world.env.workload_token(world.resolver.source.workload_name, user_token=jwt)
    pending = world.pending(user_token=jwt, workload_access_token=wat)
    session = await sessions.aremember(pending, {"user_token": jwt})
    assert session is not None and session.user_id is None
    assert session.user_token_fingerprint == user_token_fingerprint(Secret(jwt))
    uri = await asyncio.to_thread(world.browse, pending.authorization_url)
    with pytest.raises(AccessDeniedError) as refused:
        await sessions.acomplete(uri, user_id="erin")
    await sessions.acomplete(uri, user_token=Secret(jwt))
    assert not leaked(jwt, repr(session), json.dumps(session.__reduce__()[1:], default=repr),
                      str(refused.value), repr(refused.value))


def test_unbound_sessions_are_refused(world: World) -> None:
    """A session started with no user in sight is bound to no one: it cannot be completed."""
    sessions = ConsentSessions(world.resolver)
    pending = world.pending(user_id="nobody-in-context")
    sessions.remember(pending, {})
    with pytest.raises(AccessDeniedError, match="bound to no user"):
        sessions.complete(pending.session_uri or "", user_id="nobody-in-context")


async def test_in_memory_store_is_bounded_and_forgets_expired_sessions() -> None:
    clock = ManualClock(1_000.0)
    store = InMemoryConsentSessionStore(2, clock=clock)
    assert isinstance(store, ConsentSessionStore)
    for n in range(3):
        store.put(ConsentSession(f"s{n}", "p", "u", None, clock() + 60))
    assert len(store) == 2 and store.get("s0") is None and store.get("s2") is not None
    await store.aput(ConsentSession("s3", "p", "u", None, clock() + 120))
    clock.advance(61)
    assert await store.aget("s2") is None and len(store) == 1
    await store.adelete("s3")
    assert store.get("s3") is None and len(store) == 0
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigurationError, match="max_sessions"):
            InMemoryConsentSessionStore(bad)  # type: ignore[arg-type]


def test_sessions_expire_after_their_ttl(world: World) -> None:
    clock = ManualClock(5_000.0)
    sessions = ConsentSessions(world.resolver, ttl=30, clock=clock)
    pending = world.pending(user_id="olga")
    sessions.remember(pending, {"user_id": "olga"})
    clock.advance(31)
    with pytest.raises(AccessDeniedError, match="expired"):
        sessions.complete(pending.session_uri or "", user_id="olga")
    with pytest.raises(ConfigurationError, match="ttl"):
        ConsentSessions(ttl=0)


class JsonStore:
    """A store keeping sessions as JSON text, as a shared store (Redis) would."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def put(self, session: ConsentSession) -> None:
        self.data[session.session_uri] = json.dumps(
            [session.session_uri, session.provider_name, session.user_id,
             session.user_token_fingerprint, session.expires_at])

    def get(self, session_uri: str) -> ConsentSession | None:
        raw = self.data.get(session_uri)
        return ConsentSession(*json.loads(raw)) if raw else None

    def delete(self, session_uri: str) -> None:
        self.data.pop(session_uri, None)

    async def aput(self, session: ConsentSession) -> None:
        self.put(session)

    async def aget(self, session_uri: str) -> ConsentSession | None:
        return self.get(session_uri)

    async def adelete(self, session_uri: str) -> None:
        self.delete(session_uri)


def test_a_store_of_another_process_completes_the_session(world: World) -> None:
    """Sessions survive serialization: one registry remembers, another (same store) completes."""
    store = JsonStore()
    jwt = world.env.issue_user_token("pia")
    wat = world.env.workload_token(world.resolver.source.workload_name, user_token=jwt)
    pending = world.pending(user_token=jwt, workload_access_token=wat)
    ConsentSessions(world.resolver, store=store).remember(pending, {"user_token": jwt})
    assert not leaked(jwt, *store.data.values())
    other = ConsentSessions(world.resolver, store=store)
    other.complete(world.browse(pending.authorization_url), user_token=jwt)
    assert store.data == {}
    with pytest.raises(ConfigurationError, match="ConsentSessionStore"):
        ConsentSessions(store=object())  # type: ignore[arg-type]


@dataclass
class Ctx:
    uid: str | None = None
    user_token: Any = None


def test_identity_from_mappings_and_objects() -> None:
    """First source carrying any identity decides alone (no merge); objects by attribute."""
    keys = IdentityKeys(user_id="uid")
    assert identity_from(Ctx(uid="ann"), {"uid": "bob", "workload_access_token": "wat-1"},
                         keys=keys, allow_raw_tokens=True) == {"user_id": "ann"}
    assert identity_from(None, Ctx(uid=""), {"uid": "cid"}, keys=keys) == {"user_id": "cid"}
    assert identity_from({}, None) == {}
    with pytest.raises(ConfigurationError, match="'user_token' in .* must be a string"):
        identity_from(Ctx(user_token=42))
    with pytest.raises(ConfigurationError, match="user_id"):
        IdentityKeys(user_id="")
    with identity_scope({}):
        assert current_identity() is None
    with identity_scope({"user_id": "dan"}):
        identity = current_identity()
        assert identity is not None and identity.user_id == "dan"
        with identity_scope(identity):
            assert current_identity() == identity
    assert current_identity() is None


def test_identity_from_a_user_id_next_to_a_user_token() -> None:
    """Both together are refused at identity_scope unless prefer= picks the one that decides."""
    both = {"user_id": "mallory", "user_token": "eyJhbGciOi.alice.jwt"}
    found = identity_from(both, allow_raw_tokens=True)
    assert found == both
    with pytest.raises(ConfigurationError, match="ambiguous"), identity_scope(found):
        pass  # pragma: no cover - never entered
    assert identity_from(both, prefer="user_token", allow_raw_tokens=True) == {
        "user_token": both["user_token"]}
    assert identity_from(both, prefer="user_id", allow_raw_tokens=True) == {"user_id": "mallory"}
    with pytest.raises(ConfigurationError, match="prefer"):
        identity_from(both, prefer="jwt")  # type: ignore[arg-type]


def test_find_exception_walks_causes_contexts_and_groups() -> None:
    inner = CredentialRejectedError("refused", provider_name="p")
    try:
        try:
            raise inner
        except CredentialRejectedError:
            raise RuntimeError("tool failed") from None  # context kept, cause suppressed
    except RuntimeError as exc:
        outer = exc
    assert find_exception(outer, CredentialRejectedError) is inner
    group = ExceptionGroup("many", [ValueError("x"), outer])
    assert find_exception(ValueError("wrapped"), CredentialRejectedError) is None
    assert find_exception(group, CredentialRejectedError) is inner
    assert find_exception(None, Exception) is None
    loop = RuntimeError("loop")
    loop.__context__ = loop
    assert find_exception(loop, KeyError) is None


def test_scrub_result_and_scrub_error() -> None:
    value = "sk-" + "q7" * 12
    redactor = Redactor()
    redactor.register(value, name="api")
    result = scrub_result({"echo": value, "list": [value.encode()]}, redactor)
    error = scrub_error(RuntimeError(f"refused {value}"), redactor)
    assert not leaked(value, json.dumps(result, default=repr), str(error), repr(error))
    assert "[REDACTED:api]" in str(error)


def test_credential_requirements_and_resolving_ahead(world: World) -> None:
    """A decorated function says what it needs; resolving ahead fills the cache the call uses."""
    @requires_access_token(provider_name=world.files, scopes=["files"],
                           auth_flow="USER_FEDERATION", resolver=world.resolver,
                           callback_url=RETURN_URL)
    @requires_api_key(provider_name=world.weather, resolver=world.resolver, into="key")
    def both(*, key: str, access_token: str) -> str:
        return "called"

    outer, inner = credential_requirements(both)
    assert (outer.decorator, outer.request.provider_name, outer.into) == (
        "requires_access_token", world.files, "access_token")
    assert outer.user_bound and not inner.user_bound and inner.resolver is world.resolver
    assert credential_requirements(len) == ()
    lookups = world.env.call_count("GetResourceApiKey")
    secret = inner.resolve()
    assert secret.reveal() == world.key
    assert world.env.call_count("GetResourceApiKey") == lookups + 1
    with identity_context(user_id="quinn"), pytest.raises(AuthorizationRequiredError):
        outer.resolve()  # ahead of the call: the adapter learns consent is needed
    assert not leaked(world.key, repr(outer), repr(inner))


async def test_resolving_ahead_async(world: World) -> None:
    @requires_api_key(provider_name=world.weather, resolver=world.resolver)
    async def forecast(*, api_key: str) -> str:
        return "sunny"

    (requirement,) = credential_requirements(forecast)
    assert (await requirement.aresolve()).reveal() == world.key
    lookups = world.env.call_count("GetResourceApiKey")
    assert await forecast() == "sunny"
    assert world.env.call_count("GetResourceApiKey") == lookups  # served from the cache


class ElicitationError(Exception):
    """What an MCP adapter might raise instead of AuthorizationRequiredError."""


async def test_consent_handler_chooses_what_a_needed_consent_raises(world: World) -> None:
    """Inside the block the handler's exception (chained); outside it, the original."""
    @requires_access_token(provider_name=world.files, scopes=["files"],
                           auth_flow="USER_FEDERATION", resolver=world.resolver,
                           callback_url=RETURN_URL)
    def my_files(*, access_token: str) -> str:
        return "files"

    @requires_access_token(provider_name=world.files, scopes=["files"],
                           auth_flow="USER_FEDERATION", resolver=world.resolver,
                           callback_url=RETURN_URL)
    async def amy_files(*, access_token: str) -> str:
        return "files"

    def elicit(pending: AuthorizationRequiredError) -> BaseException:
        return ElicitationError(ConsentRequest.from_error(pending).to_dict()["provider_name"])

    with identity_context(user_id="rita"):
        with consent_handler(elicit):
            with pytest.raises(ElicitationError, match=world.files) as info:
                my_files()
            assert isinstance(info.value.__cause__, AuthorizationRequiredError)

            async def plain() -> None:
                with consent_handler(lambda pending: None), pytest.raises(
                        AuthorizationRequiredError):
                    await amy_files()

            await plain()
            with pytest.raises(ElicitationError):
                await amy_files()
        with pytest.raises(AuthorizationRequiredError):
            my_files()
    with pytest.raises(ConfigurationError), consent_handler(42):  # type: ignore[arg-type]
        pass


class RefusedError(Exception):
    """What an MCP adapter might raise instead of CredentialRejectedError."""


async def test_rejection_handler_chooses_what_a_final_refusal_raises(world: World) -> None:
    """After the decorators' refetch: the handler's exception (chained); outside, the original."""
    calls: list[str] = []

    @requires_api_key(provider_name=world.weather, resolver=world.resolver,
                      reject_exceptions=(PermissionError,))
    def refused(*, api_key: str) -> str:
        calls.append("sync")
        raise PermissionError("no")

    @requires_api_key(provider_name=world.weather, resolver=world.resolver,
                      reject_exceptions=(PermissionError,))
    async def arefused(*, api_key: str) -> str:
        calls.append("async")
        raise PermissionError("no")

    with rejection_handler(lambda error: RefusedError(error.provider_name)):
        with pytest.raises(RefusedError, match=world.weather) as info:
            refused()
        assert isinstance(info.value.__cause__, CredentialRejectedError)
        with pytest.raises(RefusedError):
            await arefused()
        with rejection_handler(lambda error: None), pytest.raises(CredentialRejectedError):
            refused()
    with pytest.raises(CredentialRejectedError):
        await arefused()
    assert calls == ["sync", "async", "sync", "async"]  # the refetch returns the same key

    # The refusals above put that key in back-off (the source kept returning it): a
    # resolver of its own shows the path where the refetch brings a fresh key.
    fresh = CredentialResolver(world.resolver.source)

    @requires_api_key(provider_name=world.weather, resolver=fresh,
                      reject_exceptions=(PermissionError,))
    def rotating(*, api_key: str) -> str:  # every key is refused, and replaced meanwhile
        calls.append("rotating")
        world.env.rotate_secret(world.weather, {"key": "sk-" + world.env.unique_name("k")})
        raise PermissionError("no")

    with rejection_handler(lambda error: RefusedError("again")), pytest.raises(
            RefusedError, match="again") as info:
        rotating()
    assert calls[-2:] == ["rotating", "rotating"]  # refetched a fresh key, refused again
    assert isinstance(info.value.__cause__, CredentialRejectedError)
    with pytest.raises(ConfigurationError), rejection_handler(42):  # type: ignore[arg-type]
        pass


def test_consent_request_round_trips_through_a_mapping() -> None:
    request = ConsentRequest("p", "https://idp.example/authorize?x=1", "urn:s")
    assert ConsentRequest.from_mapping(request.to_dict()) == request
    assert ConsentRequest.from_mapping({"provider_name": "p"}) is None
