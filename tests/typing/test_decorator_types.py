"""mypy must accept this file: the decorators keep parameter and return types (ParamSpec).

Type checkers see the decorated function's own signature, injected parameter
included (no typing construct can remove a keyword parameter), so give it a
default when typed code calls the tool directly. The ``type: ignore`` lines
prove the parameter types survive decoration: with ``warn_unused_ignores`` mypy
fails if they stop being errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, assert_type

from agentcore_auth import Secret, requires_access_token, requires_api_key


@requires_api_key(provider_name="weather")
def forecast(city: str, days: int = 1, *, api_key: str = "") -> dict[str, int]:
    """Forecast for a city."""
    return {city: days}


@requires_access_token(provider_name="github", scopes=["repo"], auth_flow="M2M")
async def issues(repo: str, *, access_token: str = "") -> list[str]:
    """Open issues."""
    return [repo]


@requires_api_key(provider_name="weather", inject_as=Secret)
def pages(n: int, *, api_key: Secret | None = None) -> Iterator[int]:
    """Streams pages."""
    yield n


@requires_access_token(provider_name="github", scopes=["repo"], auth_flow="USER_FEDERATION",
                       on_auth_url=print, wait_for_consent=False)
async def events(n: int, *, access_token: str = "") -> AsyncIterator[int]:
    """Streams events."""
    yield n


@requires_api_key(provider_name="weather", scrub_result=False)
def raw(city: str, *, api_key: str = "") -> tuple[str, str]:
    """Returns the key on purpose (opted out of result scrubbing)."""
    return city, api_key


async def check_types() -> None:
    """Never run: only type-checked."""
    assert_type(forecast("Oslo"), dict[str, int])
    assert_type(forecast(city="Oslo", days=2), dict[str, int])
    coroutine: Coroutine[Any, Any, list[str]] = issues("o/r")
    assert_type(await coroutine, list[str])
    assert_type(pages(1), Iterator[int])
    assert_type(events(1), AsyncIterator[int])
    assert_type(raw("Oslo"), tuple[str, str])
    forecast(1)  # type: ignore[arg-type]
    forecast("Oslo", colour="red")  # type: ignore[call-arg]
    await issues(repo=3)  # type: ignore[arg-type]


def test_decorating_needs_no_aws() -> None:
    """Decoration resolves nothing: the module above imported without a source."""
    assert forecast.__name__ == "forecast" and events.__name__ == "events"
