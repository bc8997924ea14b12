"""Framework-neutral pieces every adapter needs: identity, consent records, lookups, scrubbing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._exceptions import AuthorizationRequiredError, ConfigurationError
from .._handle import is_handle, resolve_handle
from .._identity import Identity, Prefer, identity_context
from .._redact import Redactor, default_redactor
from .._resolver import CredentialResolver
from .._secret import Secret

__all__ = [
    "ConsentRequest",
    "CredentialRequirement",
    "IdentityKeys",
    "credential_requirements",
    "find_exception",
    "identity_from",
    "identity_scope",
    "raw_token_error",
    "scrub_error",
    "scrub_result",
]

E = TypeVar("E", bound=BaseException)

_FIELDS = ("user_id", "user_token", "workload_access_token")


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A pending OAuth2 consent, as an adapter hands it to the app.

    Attributes:
        provider_name: the credential provider that needs the user's consent.
        authorization_url: the URL to show the user. Sensitive (it carries a session
            reference): show it to that user only.
        session_uri: the AgentCore session, to complete once the user consented.
    """

    provider_name: str | None
    authorization_url: str
    session_uri: str | None

    @classmethod
    def from_error(cls, pending: AuthorizationRequiredError) -> ConsentRequest:
        """The request carried by ``pending``."""
        return cls(pending.provider_name, pending.authorization_url, pending.session_uri)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ConsentRequest | None:
        """Read one back from :meth:`to_dict` output (an interrupt payload); None if not one."""
        url = data.get("authorization_url")
        if not isinstance(url, str) or not url:
            return None
        provider, session = data.get("provider_name"), data.get("session_uri")
        return cls(provider if isinstance(provider, str) else None, url,
                   session if isinstance(session, str) else None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (interrupt payloads, API responses)."""
        return {"provider_name": self.provider_name, "authorization_url": self.authorization_url,
                "session_uri": self.session_uri}


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """Under which keys a framework's per-request object carries the caller's identity.

    Attributes:
        user_id: key of the user id.
        user_token: key of the user's JWT (refused raw by default: see :func:`identity_from`).
        workload_access_token: key of a workload access token (likewise).
        handle: key of an :class:`~agentcore_auth.IdentityHandle`, the safe carrier.
    """

    user_id: str = "user_id"
    user_token: str = "user_token"  # noqa: S105 - a key name, not a token
    workload_access_token: str = "workload_access_token"  # noqa: S105 - likewise
    handle: str = "identity"

    def __post_init__(self) -> None:
        for name in (*_FIELDS, "handle"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigurationError(f"IdentityKeys({name}=...) must be a non-empty key")


def raw_token_error(key: str, where: str) -> ConfigurationError:
    """The error for a raw JWT or workload access token found in framework state."""
    return ConfigurationError(
        f"a raw token was found under {key!r} in {where}. The framework persists, traces "
        "and broadcasts that object, so the token would be copied into checkpoints, run "
        "metadata and events. Pass a handle instead: handle = agentcore_auth.identity_handle("
        "user_token=jwt) (or workload_access_token=..., user_id=...) and put it under "
        f"the {'identity'!r} key (or the adapter's handle key); see docs/identity.md")


def identity_from(*sources: Any, keys: IdentityKeys | None = None,
                  prefer: Prefer | None = None, allow_raw_tokens: bool = False,
                  where: str = "the framework's run object") -> dict[str, Any]:
    """The ``identity_context`` arguments of the first source carrying any: never a mix.

    Pass sources in trust order, normally one: the framework's verified identity. The
    first source holding any identity key decides alone; fields of later sources never
    fill in or override it (a client-controlled ``context`` cannot add a ``user_id``
    to a verified token). Each source may be a mapping or an object with attributes;
    None is skipped. Empty values are ignored; a value of the wrong type raises.

    An :class:`~agentcore_auth.IdentityHandle` (or its text, read back from saved
    state) under the handle key, or under any other key, stands for its identity.
    A raw string under the user-token or workload-token key is refused with a
    :class:`ConfigurationError` showing the handle, unless ``allow_raw_tokens`` (for a
    source the framework never records), in every source given.

    A user id and a user token found together are kept both, so that
    :func:`identity_scope` refuses them, unless ``prefer`` names the one that decides.

    Example:
        >>> identity_from(runtime.context, where="context=")
        {'user_id': 'alice'}
    """
    keys = keys or IdentityKeys()
    if prefer not in (None, "user_id", "user_token"):
        raise ConfigurationError(f"prefer must be 'user_id' or 'user_token', not {prefer!r}")
    chosen: dict[str, Any] | None = None
    for source in sources:
        found = _fields(source, keys, allow_raw_tokens, where)
        if chosen is None and found:
            chosen = found
    found = chosen or {}
    if prefer is not None and "user_id" in found and "user_token" in found:
        del found["user_token" if prefer == "user_id" else "user_id"]
    return found


def _fields(source: Any, keys: IdentityKeys, allow_raw: bool, where: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    handles: list[str] = []
    for name in (*_FIELDS, "handle"):
        key = getattr(keys, name)
        value = _read(source, key)
        if value is None or value == "":
            continue
        if not isinstance(value, str | Secret):
            raise ConfigurationError(f"the caller's {key!r} in {where} must be a string or an "
                                     f"IdentityHandle, not {type(value).__name__}")
        if isinstance(value, str) and is_handle(value):
            handles.append(value)
        elif name == "handle":
            raise ConfigurationError(f"{key!r} in {where} is not an identity handle: make one "
                                     "with agentcore_auth.identity_handle(...)")
        elif name != "user_id" and isinstance(value, str) and not allow_raw:
            raise raw_token_error(key, where)
        else:
            found[name] = value
    if handles:
        if found or len(set(handles)) > 1:
            raise ConfigurationError(
                f"{where} carries an identity handle next to other identity values: the "
                "handle carries the whole identity, pass it alone")
        identity = resolve_handle(handles[0])
        return {f: getattr(identity, f) for f in _FIELDS if getattr(identity, f) is not None}
    return found


def _read(source: Any, key: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


@contextmanager
def identity_scope(identity: Mapping[str, Any] | Identity | str | None) -> Iterator[None]:
    """:func:`~agentcore_auth.identity_context` with ``identity``, or nothing when it is empty.

    ``identity`` may be ``identity_context`` arguments, an :class:`Identity` or an
    :class:`~agentcore_auth.IdentityHandle`. With nothing set, an identity the app
    set around the agent call still applies.
    """
    if isinstance(identity, str):
        identity = resolve_handle(identity)
    if isinstance(identity, Identity):
        identity = {f: getattr(identity, f) for f in _FIELDS if getattr(identity, f) is not None}
    if not identity:
        yield
        return
    with identity_context(**identity):
        yield


def find_exception(exc: BaseException | None, kind: type[E]) -> E | None:
    """``exc`` or the first exception of type ``kind`` in its cause/context chain.

    Frameworks wrap tool errors (``ToolException``, ``ToolError``, ...); this finds
    the library's error inside.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc] if exc is not None else []
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
    return None


def scrub_result(value: Any, redactor: Redactor | None = None) -> Any:
    """A copy of a tool result or model input with every registered value redacted.

    Walks dicts, lists, tuples and sets and redacts strings and bytes (see
    :meth:`~agentcore_auth.Redactor.redact_obj`); framework message objects are the
    adapter's to take apart.
    """
    return (redactor or default_redactor()).redact_obj(value)


def scrub_error(exc: BaseException, redactor: Redactor | None = None) -> BaseException:
    """``exc`` scrubbed in place, or a :class:`~agentcore_auth.RedactedError` stand-in.

    Raise the stand-in outside the ``except`` block, ``from None``.
    """
    from .._scrub import sanitize_exception

    return sanitize_exception(exc, redactor)


@dataclass(frozen=True, slots=True)
class CredentialRequirement:
    """What a decorated function needs, read without calling it.

    Attributes:
        decorator: ``"requires_api_key"`` or ``"requires_access_token"``.
        request: the credential request (provider, scopes, flow, ...).
        into: the keyword the value is injected as.
        resolver: the decorator's resolver, or None for the default one.
    """

    decorator: str
    request: Any  # CredentialRequest
    into: str
    resolver: CredentialResolver | None
    _binding: Any = field(repr=False, compare=False)

    @property
    def user_bound(self) -> bool:
        """True for USER_FEDERATION and token exchange: the credential belongs to one user."""
        return bool(self.request.user_bound)

    def resolve(self) -> Secret:
        """Resolve it now, for the current identity, as the call would (consent included).

        Raises what the call would raise: :class:`~agentcore_auth.AuthorizationRequiredError`
        when the user must consent first, and so on. The value is cached, so the
        call that follows finds it.
        """
        binding = self._binding
        return binding.get(binding.begin({}))  # type: ignore[no-any-return]

    async def aresolve(self) -> Secret:
        """Async twin of :meth:`resolve`."""
        binding = self._binding
        return await binding.aget(binding.begin({}))  # type: ignore[no-any-return]


def credential_requirements(func: Any) -> tuple[CredentialRequirement, ...]:
    """The credentials a function decorated with the library's decorators needs, outermost first.

    Follows ``__wrapped__`` through stacked decorators (a framework's ``@tool``
    object is not followed: pass its function, e.g. LangChain's ``tool.func``).
    """
    found: list[CredentialRequirement] = []
    seen: set[int] = set()
    while func is not None and id(func) not in seen:
        seen.add(id(func))
        binding = getattr(func, "__dict__", {}).get("__agentcore_auth__")
        if binding is not None and id(binding) not in seen:
            seen.add(id(binding))  # functools.wraps copies it onto outer wrappers
            found.append(CredentialRequirement(binding.decorator, binding.request, binding.into,
                                               binding._resolver, binding))
        func = getattr(func, "__wrapped__", None)
    return tuple(found)
