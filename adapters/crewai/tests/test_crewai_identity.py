"""Identity as a handle, pending links per whole identity and re-checked, delegation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from agentcore_auth_crewai import complete_consent, pending_consents, register_hooks, secure_tool
from agentcore_auth_crewai.testing import ScriptedLLM, action, final
from crew_helpers import Finished, crew, files_tool, leaks
from crewai import Agent, Crew, Task
from crewai.events import CrewKickoffStartedEvent, ToolUsageFinishedEvent, crewai_event_bus
from crewai.hooks import HookAborted

from agentcore_auth import identity_handle
from agentcore_auth.integration import ConsentSessions, PendingConsents


class Kickoffs:
    """The inputs of every CrewKickoffStartedEvent, and every tool output (one scope)."""

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.outputs: list[str] = []

    def __enter__(self) -> Kickoffs:
        self._scope = crewai_event_bus.scoped_handlers()
        self._scope.__enter__()

        @crewai_event_bus.on(CrewKickoffStartedEvent)
        def keep(source: Any, event: CrewKickoffStartedEvent) -> None:
            self.inputs.append(repr(event.inputs))

        @crewai_event_bus.on(ToolUsageFinishedEvent)
        def output(source: Any, event: ToolUsageFinishedEvent) -> None:
            self.outputs.append(str(event.output))

        return self

    def __exit__(self, *exc: object) -> None:
        crewai_event_bus.flush()
        self._scope.__exit__(*exc)

    def text(self) -> str:
        crewai_event_bus.flush()
        return "\n".join(self.inputs)


def wat_for(files: Any, user: str) -> str:
    return files.env.client("bedrock-agentcore").get_workload_access_token_for_user_id(  # type: ignore[no-any-return]
        workloadName=files.workload, userId=user)["workloadAccessToken"]


def link(finished: Finished) -> str:
    (found,) = {o for o in finished.outputs if "Authorization required" in o}
    return found.rsplit(" ", 1)[-1]


def test_raw_token_in_inputs_never_reaches_the_event_bus(files: Any) -> None:
    """Control: CrewAI broadcasts kickoff inputs; with the hooks a raw token aborts first."""
    jwt = files.env.issue_user_token("rae")
    with Kickoffs() as seen:  # control: no hooks, the JWT reaches every listener
        crew(ScriptedLLM(final()), [files_tool(files)]).kickoff(inputs={"user_token": jwt})
    assert leaks(jwt, seen.text())

    unregister = register_hooks()
    try:
        for key, token in (("user_token", jwt), ("workload_access_token", wat_for(files, "rae"))):
            calls: list[str] = []
            with Kickoffs() as seen, pytest.raises(HookAborted, match="identity_handle") as no:
                crew(ScriptedLLM(action("my_files", {"folder": "a"}), final()),
                     [files_tool(files, calls)]).kickoff(inputs={key: token})
            assert calls == [] and seen.inputs == [] and not leaks(token, str(no.value))
        handle = identity_handle(user_token=jwt)
        with Kickoffs() as seen:
            crew(ScriptedLLM(action("my_files", {"folder": "a"}), final()),
                 [files_tool(files)]).kickoff(inputs={"identity": handle})
        (request,) = pending_consents(handle)  # the tool ran as the handle's user
        assert handle in seen.text() and request.authorization_url in "".join(seen.outputs)
        assert not leaks(jwt, seen.text(), "".join(seen.outputs))
    finally:
        unregister()


@pytest.fixture
def hooks() -> Iterator[None]:
    unregister = register_hooks()
    yield
    unregister()


def test_wat_only_users_each_get_their_own_link_then_out_of_process_consent(
        files: Any, hooks: None) -> None:
    """Two WAT-only users: two links (one shared key gave bob alice's); consent completed by
    the app's own CompleteResourceTokenAuth elsewhere is picked up on the next call."""
    sessions, pending = ConsentSessions(files.resolver), PendingConsents()
    handles = {u: identity_handle(workload_access_token=wat_for(files, u)) for u in ("al", "bo")}
    links = {}
    for user, handle in handles.items():
        with Finished() as finished:
            crew(ScriptedLLM(action("my_files", {"folder": "a"}), final()),
                 [files_tool(files)], sessions, pending).kickoff(inputs={"identity": handle})
        links[user] = link(finished)
    assert links["al"] != links["bo"]
    assert [r.authorization_url for r in pending_consents(handles["al"], pending=pending)
            ] == [links["al"]]
    session = files.browse(links["al"])
    files.env.client("bedrock-agentcore").complete_resource_token_auth(  # another process
        userIdentifier={"userId": "al"}, sessionUri=session)
    for user, handle in handles.items():
        calls: list[str] = []
        with Finished() as finished:
            crew(ScriptedLLM(action("my_files", {"folder": "b"}), final()),
                 [files_tool(files, calls)], sessions, pending).kickoff(
                     inputs={"identity": handle})
        if user == "al":
            assert calls == ["b"] and "'sub': 'al'" in finished.text()
        else:  # still pending: the same link, after asking the service
            assert calls == [] and link(finished) == links["bo"]


def test_delegated_coworker_asks_consent_as_the_user(files: Any, hooks: None) -> None:
    """A manager delegates to a coworker with a USER_FEDERATION tool: asks as the same user."""
    sessions, calls = ConsentSessions(files.resolver), []

    def team(llm: ScriptedLLM) -> Crew:
        clerk = Agent(role="files clerk", goal="read files", backstory="a clerk", llm=llm,
                      tools=[secure_tool(files_tool(files, calls), sessions=sessions)],
                      allow_delegation=False, max_iter=4)
        lead = Agent(role="lead", goal="help the user", backstory="a lead", llm=llm,
                     allow_delegation=True, max_iter=4)
        task = Task(description="Help the user.", expected_output="an answer", agent=lead)
        return Crew(agents=[lead, clerk], tasks=[task])

    def delegate() -> str:
        return action("Delegate work to coworker",
                      {"task": "list the docs folder", "context": "the user asks",
                       "coworker": "files clerk"})

    handle = identity_handle(user_id="dora")
    with Finished() as finished:
        team(ScriptedLLM(delegate(), action("my_files", {"folder": "docs"}), final(),
                         final())).kickoff(inputs={"identity": handle})
    (request,) = pending_consents(handle)
    assert request.authorization_url == link(finished) and calls == []
    complete_consent(files.browse(request.authorization_url), user_id="dora",
                     sessions=sessions)
    with Finished() as finished:
        team(ScriptedLLM(delegate(), action("my_files", {"folder": "docs"}), final(),
                         final())).kickoff(inputs={"identity": handle})
    assert calls == ["docs"] and "'sub': 'dora'" in finished.text()
