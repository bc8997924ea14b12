"""``--seed``: demo resources, so the CLI walkthrough needs neither AWS nor the AWS CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._env import LocalAgentCore

__all__ = ["Seeded", "seed"]

DEMO_API_KEY = "sk-local-demo-not-a-real-key"
"""The value the seeded ``weather`` provider resolves to (fake, local only)."""


@dataclass(frozen=True, slots=True)
class Seeded:
    """What :func:`seed` created."""

    secret_arn: str
    api_key_provider: str
    oauth2_provider: str
    workload: str
    protected_api: str

    def lines(self) -> list[str]:
        """Human-readable lines: what exists now, and commands that use it."""
        return [
            f"Seeded: secret {self.secret_arn} (JSON key api_key),",
            f"  API key provider {self.api_key_provider!r} (EXTERNAL, that secret), OAuth2 "
            f"provider {self.oauth2_provider!r} (M2M on the local IdP),",
            f"  workload identity {self.workload!r}, and a protected API answering 200 only "
            f"to the current key: {self.protected_api}",
            "Try, with the exports above:",
            f"  agentcore-auth resolve {self.api_key_provider}",
            f"  agentcore-auth resolve {self.oauth2_provider} --scopes read --auth-flow M2M",
            f"  agentcore-auth doctor {self.api_key_provider}",
        ]


def seed(env: LocalAgentCore, *, api_key_provider: str = "weather",
         oauth2_provider: str = "local-idp") -> Seeded:
    """Create a demo secret, an API key and an OAuth2 provider; return what was made.

    The workload identity is the emulator's default one (created at start-up).
    """
    if not env.workload_name:
        env.workload_name = env.create_workload("local-agent", env.return_urls)
    name, arn = env.create_api_key_provider(DEMO_API_KEY, name=api_key_provider)
    env.create_oauth2_provider(name=oauth2_provider)
    return Seeded(arn, name, oauth2_provider, env.workload_name,
                  env.protected_api(arn, "api_key"))
