"""secure_tool(): agentcore_auth around a LlamaIndex tool, with the workflow ``Context``.

The returned ``FunctionTool`` takes the workflow ``Context`` (injected by LlamaIndex's
agents, hidden from the model) and

- runs the call with :func:`agentcore_auth.identity_context` set to the caller read from
  ``ctx.store``, its one source of identity: an :class:`~agentcore_auth.IdentityHandle`
  under ``identity``, or a plain ``user_id`` (keys configurable). ``ctx.store`` is
  serialized with the context (``ctx.to_dict()`` at the consent pause), so a raw
  ``user_token`` / ``workload_access_token`` there is refused with an error showing the
  handle;
- when the user must consent, emits an :class:`InputRequiredEvent` carrying the
  authorization URL and waits for the app's :class:`HumanResponseEvent`, then runs the
  call again as the same user;
- scrubs the result before LlamaIndex wraps it in a ``ToolOutput`` (so span handlers and
  the model only see redacted values).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, Literal

from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import Context, HumanResponseEvent, InputRequiredEvent

from agentcore_auth import AuthorizationRequiredError, ConfigurationError, Redactor, Secret
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    find_exception,
    identity_from,
    identity_scope,
    scrub_error,
    scrub_result,
)

__all__ = ["CONSENT_PREFIX", "DECLINED", "acomplete_consent", "complete_consent",
           "consent_request", "consent_response", "default_sessions", "secure_tool"]

CONSENT_PREFIX = "agentcore-auth:consent"
DECLINED = "The user declined the authorization this tool needs; do not call it again for now."


_lock = threading.Lock()
_default_sessions: ConsentSessions | None = None


def default_sessions() -> ConsentSessions:
    """The consent sessions :func:`secure_tool` records in when not given its own."""
    global _default_sessions  # noqa: PLW0603 - one lazily made process default
    with _lock:
        if _default_sessions is None:
            _default_sessions = ConsentSessions()
        return _default_sessions


def complete_consent(session_uri: str, *, user_id: str | None = None,
                     user_token: str | Secret | None = None,
                     sessions: ConsentSessions | None = None) -> None:
    """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

    Call it from the app's OAuth2 return URL handler (it receives ``session_id``).

    Raises:
        AccessDeniedError: unknown session, or one started for another user.
        CredentialError: the service refused to complete the session.
    """
    (sessions or default_sessions()).complete(session_uri, user_id=user_id,
                                              user_token=user_token)


async def acomplete_consent(session_uri: str, *, user_id: str | None = None,
                            user_token: str | Secret | None = None,
                            sessions: ConsentSessions | None = None) -> None:
    """Async twin of :func:`complete_consent`."""
    await (sessions or default_sessions()).acomplete(session_uri, user_id=user_id,
                                                     user_token=user_token)


def consent_request(event: Any) -> ConsentRequest | None:
    """The consent an :class:`InputRequiredEvent` from :func:`secure_tool` asks for, else None."""
    if not isinstance(event, InputRequiredEvent) or event.get("prefix") != CONSENT_PREFIX:
        return None
    data = event.get("consent")
    return ConsentRequest.from_mapping(data) if isinstance(data, dict) else None


def consent_response(event: InputRequiredEvent, *, approved: bool = True) -> HumanResponseEvent:
    """The app's answer to a consent event: send it with ``handler.ctx.send_event(...)``.

    Send ``approved=True`` once the user consented and the session was completed
    (:func:`complete_consent`): the tool call runs again, as the same user.
    ``approved=False``: the tool is not run and the model is told the user declined.
    """
    fields = {"response": "approved" if approved else "declined",
              "waiter_id": event.get("waiter_id")}
    return HumanResponseEvent(**fields)  # events carry extra fields


def secure_tool(fn_or_tool: Callable[..., Any] | FunctionTool, *,
                sessions: ConsentSessions | None = None, redactor: Redactor | None = None,
                user_id_key: str = "user_id",
                user_token_key: str = "user_token",  # noqa: S107 - a key name, not a token
                workload_access_token_key: str = "workload_access_token",  # noqa: S107
                prefer: Literal["user_id", "user_token"] | None = None,
                handle_key: str = "identity",
                allow_raw_tokens: bool = False) -> FunctionTool:
    """A ``FunctionTool`` running ``fn_or_tool`` as the caller named in ``ctx.store``.

    Args:
        fn_or_tool: a function (decorated with ``requires_api_key`` /
            ``requires_access_token``) or a ``FunctionTool`` made from one.
        sessions: where consent sessions are recorded, for :func:`complete_consent`;
            default :func:`default_sessions`.
        redactor: scrubs results; default the global one.
        user_id_key: ``ctx.store`` key of the user id.
        user_token_key: ``ctx.store`` key of the user's JWT.
        workload_access_token_key: ``ctx.store`` key of a workload access token.
        prefer: which of a user id and a user token found together decides; by default
            both together are refused.
        handle_key: ``ctx.store`` key of an :class:`~agentcore_auth.IdentityHandle`.
        allow_raw_tokens: accept raw tokens in ``ctx.store`` (the old way; they are
            then serialized with the context: do not).
    """
    keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key, handle_key)
    identity_from(prefer=prefer)  # validates prefer=
    base = fn_or_tool if isinstance(fn_or_tool, FunctionTool) else FunctionTool.from_defaults(
        fn_or_tool)
    if base.requires_context:
        raise ConfigurationError(f"secure_tool(): {base.metadata.name!r} already takes the "
                                 "workflow Context; pass the function without it")
    consent = sessions if sessions is not None else default_sessions()
    name = base.metadata.name or "tool"

    async def run(**kwargs: Any) -> Any:
        # The function itself, not base.acall: that is instrumented, so span handlers
        # would see its result before it is scrubbed.
        return await base.async_fn(**kwargs)

    async def call(ctx: Context, **kwargs: Any) -> Any:
        identity = identity_from(await _store(ctx, keys), keys=keys, prefer=prefer,
                                 allow_raw_tokens=allow_raw_tokens, where="ctx.store")
        with identity_scope(identity):
            failure: BaseException | None = None
            try:
                return scrub_result(await run(**kwargs), redactor)
            except Exception as exc:
                pending = find_exception(exc, AuthorizationRequiredError)
                if pending is None:
                    # LlamaIndex sends str(error) to the model: scrubbed, or a stand-in.
                    failure = scrub_error(exc, redactor)
                    if failure is exc:
                        raise
            if failure is not None:
                raise failure from None
            assert pending is not None  # noqa: S101 - narrowed for mypy
            await consent.aremember(pending, identity)
            request = ConsentRequest.from_error(pending)
            who = identity.get("user_id") or "token"
            waiter = f"{CONSENT_PREFIX}:{name}:{pending.provider_name}:{who}"
            fields = {"prefix": CONSENT_PREFIX, "waiter_id": waiter, "tool_name": name,
                      "consent": request.to_dict()}
            answer = await ctx.wait_for_event(
                HumanResponseEvent, waiter_id=waiter, requirements={"waiter_id": waiter},
                waiter_event=InputRequiredEvent(**fields))  # events carry extra fields
            if answer.response == "declined":
                return DECLINED
            try:
                return scrub_result(await run(**kwargs), redactor)
            except AuthorizationRequiredError as again:
                return (f"The user has not completed the authorization for "
                        f"{again.provider_name!r}; ask them to finish it, then try again.")

    # LlamaIndex finds the Context parameter by its (evaluated) annotation.
    call.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context),
        inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
    secured = FunctionTool.from_defaults(async_fn=call, name=name,
                                         description=base.metadata.description,
                                         fn_schema=base.metadata.fn_schema)
    return secured


async def _store(ctx: Context, keys: IdentityKeys) -> dict[str, Any]:
    found = {}
    for key in (keys.user_id, keys.user_token, keys.workload_access_token, keys.handle):
        value = await ctx.store.get(key, default=None)
        if value is not None:
            found[key] = value
    return found
