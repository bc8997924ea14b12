"""The tool decorators: ``requires_api_key`` and ``requires_access_token``.

They take the parameters of ``bedrock_agentcore.identity.auth``'s decorators, with
the same names and meanings, so migrating is changing the import line. What they
add: a cached, coalesced resolver; one refetch when the downstream API refuses the
credential; the injected parameter hidden from the visible signature (so no tool
schema offers it to a model); and nothing leaving the function holds a secret:
return values and streamed items are scrubbed (``scrub_result=False`` opts out),
exceptions are scrubbed or, failing that, replaced (see ``_outbound.py``).

The kind of function (sync, async, generator, async generator) is decided once, at
decoration time, and one of four tiny wrappers is returned. All of them call
:func:`~agentcore_auth._rejection.call_sync` or ``call_async``, which hold the
resolve-call-refetch logic once per colour; generators are retried only until
their first item, since items already yielded cannot be taken back.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Literal, ParamSpec, TypeVar

from ._credential import CredentialRequest
from ._exceptions import ConfigurationError
from ._outbound import Outbound
from ._rejection import CredentialBinding, TokenPoller, call_async, call_sync
from ._resolver import CredentialResolver, OnAuthUrl
from ._secret import Secret
from ._stream import StreamScrubber

__all__ = ["requires_access_token", "requires_api_key"]

P = ParamSpec("P")
R = TypeVar("R")


def requires_api_key(
    *,
    provider_name: str,
    into: str = "api_key",
    resolver: CredentialResolver | None = None,
    reject_statuses: Iterable[int] = (401,),
    reject_exceptions: Sequence[type[BaseException]] = (),
    inject_as: type[str] | type[Secret] = str,
    scrub_result: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Inject the API key of credential provider ``provider_name`` as keyword ``into``.

    A drop-in for ``bedrock_agentcore.identity.auth.requires_api_key``. Stack it
    under a framework's ``@tool``: the injected parameter is removed from the
    wrapper's signature and annotations, so the model never sees it.

    Args:
        provider_name: the AgentCore Identity API key credential provider.
        into: the keyword parameter to fill. The function must have it (keyword-only
            is best) or ``**kwargs``; a caller passing it gets :class:`ConfigurationError`.
        resolver: where credentials come from; default :func:`default_resolver`
            at call time.
        reject_statuses: HTTP statuses of an exception's ``.response.status_code``
            (``httpx.HTTPStatusError``, ``requests.HTTPError``) that mean the key was
            refused: it is dropped, refetched, and the call made once more.
        reject_exceptions: further exception types meaning the same. A tool may
            also raise :class:`CredentialRejectedError` itself.
        inject_as: ``str`` (the plain value, as the official SDK) or :class:`Secret`.
        scrub_result: redact every registered value from the return value (strings,
            bytes, mappings, sequences, pydantic models and dataclasses, recursively,
            giving back the same types) and from each item a generator yields. Set it
            to ``False`` only for a tool whose result must carry a credential (and
            make sure no framework traces or shows that result). Exceptions are
            always scrubbed; one whose text still shows a value after scrubbing (a
            computed message) is replaced by :class:`RedactedError`, raised ``from None``.

    Returns:
        A decorator for sync or async functions and generators.

    Raises:
        ConfigurationError: at decoration, for a bad argument or a function without
            the ``into`` parameter.

    Example:
        >>> @tool
        ... @requires_api_key(provider_name="weather", into="api_key")
        ... def forecast(city: str, *, api_key: str) -> dict:
        ...     return httpx.get(URL, params={"q": city}, headers={"x-api-key": api_key}).json()
    """
    request = CredentialRequest(provider_name)
    return _decorator(CredentialBinding(
        decorator="requires_api_key", request=request, into=into, inject_as=inject_as,
        resolver=resolver, reject_statuses=reject_statuses, reject_exceptions=reject_exceptions,
    ), scrub_result)


def requires_access_token(
    *,
    provider_name: str,
    scopes: Sequence[str],
    auth_flow: Literal["M2M", "USER_FEDERATION", "ON_BEHALF_OF_TOKEN_EXCHANGE"],
    into: str = "access_token",
    on_auth_url: OnAuthUrl | None = None,
    callback_url: str | None = None,
    force_authentication: bool = False,
    custom_state: str | None = None,
    custom_parameters: Mapping[str, str] | None = None,
    resources: Sequence[str] | None = None,
    audiences: Sequence[str] | None = None,
    token_poller: TokenPoller | None = None,
    resolver: CredentialResolver | None = None,
    wait_for_consent: bool | None = None,
    reject_statuses: Iterable[int] = (401,),
    reject_exceptions: Sequence[type[BaseException]] = (),
    inject_as: type[str] | type[Secret] = str,
    scrub_result: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Inject an OAuth2 access token from credential provider ``provider_name`` as ``into``.

    A drop-in for ``bedrock_agentcore.identity.auth.requires_access_token``; see
    :func:`requires_api_key` for ``into``, ``resolver``, ``reject_*``, ``inject_as`` and
    ``scrub_result``.

    For USER_FEDERATION the user's identity comes from
    :func:`agentcore_auth.identity_context` or the AgentCore Runtime. When the user
    must consent, ``on_auth_url`` (sync or async) is called with the authorization
    URL. Then, with ``wait_for_consent`` (default: when ``on_auth_url`` is given),
    the service is polled until the token arrives (the resolver's
    ``consent_timeout``); without it :class:`AuthorizationRequiredError` is raised,
    carrying the URL and session URI. A refused USER_FEDERATION token may mean the
    grant was revoked: the refetch sets ``forceAuthentication`` and raises
    :class:`AuthorizationRequiredError` if the user must consent again.

    Differences from the official SDK: ``token_poller.poll_for_token()`` is used
    the same way (after ``on_auth_url``; its token is injected but not cached), but
    from a sync tool it runs in ``asyncio.run`` (on a one-off thread if an event
    loop is running). Without a poller the resolver polls, backing off from
    ``consent_poll_interval`` instead of the SDK's fixed 5 s.

    Args:
        provider_name: the AgentCore Identity OAuth2 credential provider.
        scopes: scopes to request.
        auth_flow: ``"M2M"``, ``"USER_FEDERATION"`` or ``"ON_BEHALF_OF_TOKEN_EXCHANGE"``.
        into: the keyword parameter to fill.
        on_auth_url: called with the authorization URL when consent is needed. The
            URL is sensitive: show it to that user only.
        callback_url: the OAuth2 return URL (default: the AgentCore Runtime's).
        force_authentication: ask the service to authenticate the user on every call.
        custom_state: state passed back to ``callback_url``.
        custom_parameters: extra authorization-request parameters.
        resources: OAuth2 resource indicators.
        audiences: token audiences.
        token_poller: an object with ``async poll_for_token() -> str``.
        resolver: see :func:`requires_api_key`.
        wait_for_consent: poll for consent instead of raising (see above).
        reject_statuses: see :func:`requires_api_key`.
        reject_exceptions: see :func:`requires_api_key`.
        inject_as: see :func:`requires_api_key`.
        scrub_result: see :func:`requires_api_key`.

    Returns:
        A decorator for sync or async functions and generators.
    """
    request = CredentialRequest.oauth2(
        provider_name, scopes=scopes, auth_flow=auth_flow,
        resources=resources, audiences=audiences, custom_parameters=custom_parameters,
        custom_state=custom_state, callback_url=callback_url,
        force_authentication=force_authentication)
    return _decorator(CredentialBinding(
        decorator="requires_access_token", request=request, into=into, inject_as=inject_as,
        resolver=resolver, reject_statuses=reject_statuses, reject_exceptions=reject_exceptions,
        on_auth_url=on_auth_url, wait_for_consent=wait_for_consent, token_poller=token_poller,
    ), scrub_result)


def _decorator(binding: CredentialBinding,
               scrub_result: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    if not isinstance(scrub_result, bool):
        raise ConfigurationError(f"{binding.decorator}(scrub_result=...) must be True or False")
    out = Outbound(binding, scrub_result)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        return _wrap(func, binding, out)  # type: ignore[no-any-return]

    return decorate


def _wrap(func: Callable[..., Any], binding: CredentialBinding, out: Outbound) -> Any:
    signature, limit = _visible_signature(func, binding)
    if inspect.isasyncgenfunction(func):
        wrapper = _async_generator_wrapper(func, binding, out, limit)
    elif inspect.iscoroutinefunction(func):
        wrapper = _async_wrapper(func, binding, out, limit)
    elif inspect.isgeneratorfunction(func):
        wrapper = _generator_wrapper(func, binding, out, limit)
    else:
        wrapper = _sync_wrapper(func, binding, out, limit)
    functools.update_wrapper(wrapper, func)
    # Schema builders read __signature__ (via inspect.signature) and __annotations__
    # (via get_type_hints): neither may mention the injected parameter.
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    wrapper.__annotations__ = {k: v for k, v in getattr(func, "__annotations__", {}).items()
                               if k != binding.into}
    wrapper.__agentcore_auth__ = binding  # type: ignore[attr-defined] # integration reads it
    return wrapper


# Each wrapper raises a sanitized stand-in *after* its ``except`` block, so that the
# stand-in's __context__ is not the original exception (``from None`` alone only
# hides it from tracebacks; frameworks walking the chain would still reach it).


def _sync_wrapper(func: Callable[..., Any], binding: CredentialBinding, out: Outbound,
                  limit: int | None) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_positional(func, args, limit)
        try:
            result = call_sync(binding, kwargs, lambda kw: func(*args, **kw))
        except Exception as exc:
            error = out.exception(exc)
            if error is exc:
                raise
        else:
            return out.result(result)
        raise error from None

    return wrapper


def _async_wrapper(func: Callable[..., Any], binding: CredentialBinding, out: Outbound,
                   limit: int | None) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_positional(func, args, limit)
        try:
            result = await call_async(binding, kwargs, lambda kw: func(*args, **kw))
        except Exception as exc:
            error = out.exception(exc)
            if error is exc:
                raise
        else:
            return out.result(result)
        raise error from None

    return wrapper


def _generator_wrapper(func: Callable[..., Any], binding: CredentialBinding, out: Outbound,
                       limit: int | None) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        _check_positional(func, args, limit)
        try:
            gen, first, done = call_sync(binding, kwargs, lambda kw: _start(func(*args, **kw)))
        except Exception as exc:
            error = out.exception(exc)
            if error is exc:
                raise
        else:
            if done:
                return out.result(first)
            stream = out.stream()
            pieces = _push(stream, first)
            del first  # no raw item in a frame a locals renderer may print
            return (yield from _forward(gen, pieces, stream, out))
        raise error from None

    return wrapper


def _async_generator_wrapper(func: Callable[..., Any], binding: CredentialBinding,
                             out: Outbound, limit: int | None) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        _check_positional(func, args, limit)
        try:
            agen, item, done = await call_async(binding, kwargs,
                                                lambda kw: _astart(func(*args, **kw)))
        except Exception as exc:
            error = out.exception(exc)
            if error is exc:
                raise
        else:
            if done:
                return
            stream = out.stream()
            pieces = _push(stream, item)
            del item
            # The async twin of _forward (async generators cannot ``yield from``).
            failure: BaseException | None = None
            try:
                while True:
                    sent, thrown = None, None
                    for piece in pieces:
                        try:
                            sent = yield piece
                        except GeneratorExit:
                            await agen.aclose()
                            raise
                        except BaseException as exc:
                            thrown = exc
                            break
                    pieces = _push(stream, await (
                        agen.asend(sent) if thrown is None else agen.athrow(thrown)))
            except StopAsyncIteration:
                pass
            except Exception as exc:
                failure = out.exception(exc)
                original = failure is exc
            for piece in stream.finish() if stream is not None else ():
                yield piece
            if failure is None:
                return
            if original:
                raise failure
            error = failure
        raise error from None

    return wrapper


def _start(gen: Generator[Any, Any, Any]) -> tuple[Generator[Any, Any, Any], Any, bool]:
    """Run a generator to its first item: (gen, item, False), or (gen, return value, True)."""
    try:
        return gen, next(gen), False
    except StopIteration as stop:
        return gen, stop.value, True


async def _astart(agen: AsyncGenerator[Any, Any]) -> tuple[AsyncGenerator[Any, Any], Any, bool]:
    try:
        return agen, await agen.__anext__(), False
    except StopAsyncIteration:
        return agen, None, True


def _push(stream: StreamScrubber | None, item: Any) -> list[Any]:
    """What to yield for ``item``: scrubbed across chunk boundaries (see ``_stream.py``)."""
    return [item] if stream is None else stream.push(item)


def _forward(gen: Generator[Any, Any, Any], pieces: list[Any], stream: StreamScrubber | None,
             out: Outbound) -> Generator[Any, Any, Any]:
    """Relay ``pieces`` and the rest of ``gen`` scrubbed, with ``send``/``throw``/``close``.

    A text item may come out later (its tail held back until the next item shows
    it is not the start of a value) or split in two; what is sent in goes to the
    generator with the next item it is asked for.
    """
    failure: BaseException | None = None
    try:
        while True:
            sent, thrown = None, None
            for piece in pieces:
                try:
                    sent = yield piece
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:
                    thrown = exc
                    break
            pieces = _push(stream, gen.send(sent) if thrown is None else gen.throw(thrown))
    except StopIteration as stop:
        value = stop.value
    except Exception as exc:
        failure = out.exception(exc)
        original = failure is exc
    for piece in stream.finish() if stream is not None else ():
        yield piece  # the held tail, before the end or the error
    if failure is None:
        return out.result(value)
    if original:
        raise failure
    raise failure from None


def _check_positional(func: Callable[..., Any], args: tuple[Any, ...], limit: int | None) -> None:
    # Past the hidden parameter's position, a positional argument would fill it.
    if limit is not None and len(args) > limit:
        raise TypeError(f"{func.__qualname__}() takes {limit} positional arguments but "
                        f"{len(args)} were given (the ones after it are keyword-only)")


def _visible_signature(func: Callable[..., Any],
                       binding: CredentialBinding) -> tuple[inspect.Signature, int | None]:
    """The signature without ``into``, and how many positional arguments may be passed.

    When ``into`` is positional-or-keyword, the parameters after it become
    keyword-only (a positional argument there would land in ``into``).
    """
    name = getattr(func, "__qualname__", None) or repr(func)
    into, decorator = binding.into, binding.decorator
    if not callable(func):
        raise ConfigurationError(f"@{decorator} decorates functions, not {type(func).__name__}")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"@{decorator} cannot read the signature of {name}") from exc
    params = list(signature.parameters.values())
    target = signature.parameters.get(into)
    if target is None:
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return signature, None
        raise ConfigurationError(
            f"{binding.label} injects {into!r}, but "
            f"{name}() has no parameter {into!r} and no **kwargs: add a keyword-only "
            f"parameter (`*, {into}: str`) or pass into= the name of the one to fill")
    if target.kind is not inspect.Parameter.KEYWORD_ONLY and (
        target.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
        or any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    ):
        raise ConfigurationError(
            f"@{decorator} injects {into!r} by keyword, but in {name}() it cannot be passed "
            f"by keyword alongside the other arguments: make it keyword-only (`*, {into}: str`)")
    if target.kind is inspect.Parameter.KEYWORD_ONLY:
        return signature.replace(parameters=[p for p in params if p is not target]), None
    index = params.index(target)
    visible = params[:index] + [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else p
        for p in params[index + 1:]
    ]
    return signature.replace(parameters=visible), index
