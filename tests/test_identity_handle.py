"""IdentityHandle: no token in any form a framework makes of it; one source; pending links."""

from __future__ import annotations

import base64
import copy
import json
import multiprocessing
import pickle
import urllib.parse
from collections.abc import Iterator

import pytest

from agentcore_auth import (
    AccessDeniedError,
    AuthorizationRequiredError,
    ConfigurationError,
    current_identity,
    identity_context,
    identity_handle,
    requires_access_token,
    resolve_handle,
)
from agentcore_auth.integration import (
    IdentityKeys,
    PendingConsents,
    credential_requirements,
    identity_from,
    identity_key,
    identity_scope,
)
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing.scenarios import UserFederationScenario, user_federation_scenario

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFsaWNl"
WAT = "wat-0123456789abcdef-of-alice"


def encodings(value: str) -> list[str]:
    """Raw, JSON, URL, base64 and hex forms of ``value``."""
    raw = value.encode()
    return [value, json.dumps(value)[1:-1], urllib.parse.quote(value, safe=""),
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex()]


def leaks(text: str | bytes, *values: str) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return [e for v in values for e in encodings(v) if e in text]


def test_handle_forms_carry_no_token() -> None:
    """str, repr, format, JSON, pickle, copy and deepcopy of a handle hold no token."""
    handle = identity_handle(user_token=JWT, workload_access_token=WAT)
    forms: list[str | bytes] = [str(handle), repr(handle), f"{handle}", json.dumps({"h": handle}),
                                pickle.dumps(handle), pickle.dumps({"ctx": [handle]}),
                                repr(copy.copy(handle)), repr(copy.deepcopy(handle))]
    for form in forms:
        assert not leaks(form, JWT, WAT), form
    assert isinstance(handle, str) and str(handle).startswith("agentcore-auth-identity:")
    assert pickle.loads(pickle.dumps(handle)) == handle  # noqa: S301 - our own bytes
    identity = handle.identity()
    assert identity.user_token is not None and identity.user_token.reveal() == JWT
    # The plain text read back (a checkpoint, a saved run state) resolves too, here.
    assert resolve_handle(json.loads(json.dumps(handle))) == identity


def test_handle_with_identity_context() -> None:
    """identity_context(handle) sets the identity it stands for; nothing else may come with it."""
    handle = identity_handle(user_id="alice")
    with identity_context(handle) as identity:
        assert current_identity() == identity and identity.user_id == "alice"
    with identity_context(str(handle)):
        assert current_identity() == identity
    with pytest.raises(ConfigurationError, match="alone"), identity_context(handle,
                                                                             user_id="bob"):
        pass  # pragma: no cover - never entered
    with pytest.raises(ConfigurationError, match="needs one of"):
        identity_handle()
    with pytest.raises(ConfigurationError, match="ttl"):
        identity_handle(user_id="alice", ttl=0)


def test_handle_expires_and_revokes(monkeypatch: pytest.MonkeyPatch) -> None:
    """After its ttl, or revoked, a handle resolves to nothing: an error showing how to make one."""
    from agentcore_auth import _handle

    now = [1000.0]
    monkeypatch.setattr(_handle._registry, "_clock", lambda: now[0])
    handle = identity_handle(user_token=JWT, ttl=60)
    now[0] += 59
    assert handle.identity().user_token is not None
    now[0] += 2
    with pytest.raises(ConfigurationError, match="identity_handle") as info:
        handle.identity()
    assert not leaks(str(info.value), JWT)
    other = identity_handle(user_id="bob")
    other.revoke()
    with pytest.raises(ConfigurationError, match="revoked"):
        identity_context(other).__enter__()
    with pytest.raises(ConfigurationError, match="not an identity handle"):
        resolve_handle("alice")


def _resolve_elsewhere(text: str, out: multiprocessing.Queue[str]) -> None:
    try:
        resolve_handle(text)
        out.put("resolved")
    except ConfigurationError:
        out.put("refused")


def test_handle_resolves_only_in_its_process() -> None:
    """A handle's text (e.g. from a checkpoint) carried to another process resolves to nothing."""
    handle = identity_handle(user_token=JWT)
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[str] = ctx.Queue()
    proc = ctx.Process(target=_resolve_elsewhere, args=(str(handle), out))
    proc.start()
    proc.join(60)
    assert out.get(timeout=5) == "refused"
    assert handle.identity().user_token is not None  # still resolves here


def test_identity_from_refuses_raw_tokens_and_shows_the_handle() -> None:
    """A raw JWT/WAT in framework state is refused (message shows the handle, hides the value)."""
    for key in ("user_token", "workload_access_token"):
        with pytest.raises(ConfigurationError, match="identity_handle") as info:
            identity_from({key: JWT}, where="config['configurable']")
        assert "config['configurable']" in str(info.value) and not leaks(str(info.value), JWT)
        # Control: the same value is accepted when the adapter says the source is never recorded.
        assert identity_from({key: JWT}, allow_raw_tokens=True) == {key: JWT}
    handle = identity_handle(user_token=JWT, workload_access_token=WAT)
    found = identity_from({"identity": handle})
    assert found["user_token"].reveal() == JWT and found["workload_access_token"].reveal() == WAT
    assert identity_from({"user_token": handle})["user_token"].reveal() == JWT  # any key
    with pytest.raises(ConfigurationError, match="pass it alone"):
        identity_from({"identity": handle, "user_id": "mallory"})
    with pytest.raises(ConfigurationError, match="not an identity handle"):
        identity_from({"identity": "alice"})
    with identity_scope(handle):
        identity = current_identity()
        assert identity is not None and identity.user_token is not None


def test_identity_from_never_merges_sources() -> None:
    """A later (client-controlled) source never fills in or overrides the verified one."""
    verified = {"user_id": "bob"}
    client = {"identity": identity_handle(user_id="alice", workload_access_token=WAT)}
    assert identity_from(verified, client) == {"user_id": "bob"}
    assert identity_from(None, {}, client)["user_id"] == "alice"  # only when it is the first
    keys = IdentityKeys(user_id="langgraph_auth_user_id")
    assert identity_from({"langgraph_auth_user_id": "bob"}, {"langgraph_auth_user_id": "alice"},
                         keys=keys) == {"user_id": "bob"}
    # A raw token is refused in any source read, even one that does not decide.
    with pytest.raises(ConfigurationError, match="raw token"):
        identity_from(verified, {"user_token": JWT})


# --- pending consent links --------------------------------------------------------------------


@pytest.fixture
def files(local_agentcore: LocalAgentCore) -> Iterator[UserFederationScenario]:
    with user_federation_scenario(local_agentcore) as scenario:
        yield scenario


def _tool(files: UserFederationScenario):  # type: ignore[no-untyped-def]
    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    def list_files(*, access_token: str) -> str:
        return "ok"

    return list_files


def _ask(pending: PendingConsents, tool, requirement):  # type: ignore[no-untyped-def]
    """What an adapter does: a kept link (re-checked), else the call, else a new link."""
    waiting = pending.recheck(requirement)
    if waiting is not None:
        return waiting
    try:
        return tool()
    except AuthorizationRequiredError as exc:
        return pending.remember(requirement, exc)


def test_two_wat_only_callers_each_get_their_own_link(files: UserFederationScenario) -> None:
    """WAT-only identities are keyed by their whole hash: B is never handed A's link."""
    tool = _tool(files)
    (requirement,) = credential_requirements(tool)
    pending = PendingConsents()
    wat_a = files.env.workload_token(files.workload, user_id="alice")
    wat_b = files.env.workload_token(files.workload, user_id="bob")
    with identity_context(workload_access_token=wat_a):
        link_a = _ask(pending, tool, requirement)
        assert _ask(pending, tool, requirement) == link_a  # same user: the same link
    with identity_context(workload_access_token=wat_b):
        link_b = _ask(pending, tool, requirement)
    assert link_a.session_uri != link_b.session_uri
    assert identity_key() is None  # nobody outside a context
    with identity_context(workload_access_token=wat_b):
        with pytest.raises(AccessDeniedError, match="another identity"):
            pending.check_owner(link_a.session_uri)
        pending.check_owner(link_b.session_uri)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_consent_completed_elsewhere_is_picked_up(files: UserFederationScenario,
                                                  mode: str) -> None:
    """Consent completed out of process (the service alone knows) ends the pending link."""
    import asyncio

    tool = _tool(files)
    (requirement,) = credential_requirements(tool)
    pending = PendingConsents()
    with identity_context(user_id="carol"):
        link = _ask(pending, tool, requirement)
        assert pending.recheck(requirement) == link  # still pending: the service said so
        files.env.complete_consent(link.authorization_url, user_id="carol")  # elsewhere
        polls = files.env.call_count("GetResourceOauth2Token")
        found = (pending.recheck(requirement) if mode == "sync"
                 else asyncio.run(pending.arecheck(requirement)))
        assert found is None and len(pending) == 0
        assert files.env.call_count("GetResourceOauth2Token") == polls + 1
        assert tool() == "ok"  # the token the re-check fetched, from the cache
