"""secure_tool() + register_hooks() in CrewAI's real (ReAct) run loop, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agentcore_auth_crewai import complete_consent, register_hooks
from agentcore_auth_crewai.testing import ScriptedLLM, action, final
from crew_helpers import Finished, crew, files_tool, forecast_tool, leaks

from agentcore_auth import AccessDeniedError, identity_handle
from agentcore_auth.integration import ConsentSessions


@pytest.fixture(autouse=True)
def hooks() -> Iterator[None]:
    unregister = register_hooks()
    yield
    unregister()


def test_schema_has_no_credential_and_key_reaches_neither_model_nor_events(weather: Any,
                                                                          ) -> None:
    """The model is told about `city` only; the echoed key is redacted in model and events."""
    llm = ScriptedLLM(action("forecast", {"city": "Paris"}), final())
    with Finished() as finished:
        crew(llm, [forecast_tool(weather)]).kickoff(inputs={"user_id": "alice"})
    seen = llm.seen()
    assert "city" in seen and "api_key" not in seen
    assert "[REDACTED" in finished.text() and "'ok': True" in finished.text()
    assert not leaks(weather.key, seen, finished.text())


def test_two_users_one_cached_crew_each_runs_as_itself(files: Any) -> None:
    """Crew(cache=True), same tool input, two users: without secure_tool bob gets alice's."""
    files.consent("alice")
    files.consent("bob")
    for secured in (False, True):
        calls: list[str] = []
        llm = ScriptedLLM(action("my_files", {"folder": "docs"}), final(),
                          action("my_files", {"folder": "docs"}), final())
        team = crew(llm, [files_tool(files, calls)], secured=secured, cache=True)
        with Finished() as finished:
            for user in ("alice", "bob"):
                team.kickoff(inputs={"user_id": user})
        out = finished.text()
        if not secured:  # the control: CrewAI's cache answered bob with alice's result
            assert calls == ["docs"] and "'sub': 'bob'" not in out
            continue
        assert calls == ["docs", "docs"]
        assert "'sub': 'alice'" in out and "'sub': 'bob'" in out and "[REDACTED" in out


def test_consent_link_reused_while_pending_then_runs_as_the_user(files: Any) -> None:
    """Two attempts before consent: one link (the second asked the service with its session
    URI first); after consent, runs as her."""
    sessions = ConsentSessions(files.resolver)
    calls: list[str] = []
    before = files.env.call_count("GetResourceOauth2Token")
    llm = ScriptedLLM(action("my_files", {"folder": "a"}), action("my_files", {"folder": "b"}),
                      final())
    with Finished() as finished:
        crew(llm, [files_tool(files, calls)], sessions).kickoff(inputs={"user_id": "carol"})
    assert calls == [] and files.env.call_count("GetResourceOauth2Token") == before + 2
    links = [o for o in finished.outputs if "Authorization required" in o]
    assert len(links) == 2 and links[0] == links[1]
    url = links[0].rsplit(" ", 1)[-1]
    assert url in llm.seen()  # the model is meant to pass it on
    session = files.browse(url)
    with pytest.raises(AccessDeniedError):
        complete_consent(session, user_id="dave", sessions=sessions)
    complete_consent(session, user_id="carol", sessions=sessions)
    llm = ScriptedLLM(action("my_files", {"folder": "a"}), final())
    with Finished() as finished:
        crew(llm, [files_tool(files, calls)], sessions).kickoff(inputs={"user_id": "carol"})
    assert calls == ["a"] and "'sub': 'carol'" in finished.text()


def test_user_id_next_to_a_handle_is_refused(files: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A handle and a user id in the inputs: the call is blocked, the model told, no JWT sent."""
    jwt = files.env.issue_user_token("erin")
    calls: list[str] = []
    llm = ScriptedLLM(action("my_files", {"folder": "a"}), final())
    with Finished() as finished:
        crew(llm, [files_tool(files, calls)]).kickoff(
            inputs={"user_id": "x", "identity": identity_handle(user_token=jwt)})
    assert calls == [] and "blocked" in llm.seen()
    assert "pass it alone" in caplog.text
    assert not leaks(jwt, llm.seen(), finished.text(), caplog.text)
