"""requires_iam_access_token against the official decorator, in the same run.

A sync tool decorated with ``agentcore_auth.requires_iam_access_token`` and the
same tool decorated with ``bedrock_agentcore.identity.auth.requires_iam_access_token``
(which calls STS ``GetWebIdentityToken`` on every tool call) are called in
interleaved batches against the emulator's STS. Reported: seconds per call
(calls per second = 1 / median) and STS calls per 100 tool calls, from the
emulator's ``GetWebIdentityToken`` count.
"""

from __future__ import annotations

from typing import Any

from ._harness import Row, batch, interleave, optional_import, skipped_row, time_row
from ._wiring import Bench

SCENARIO = "iam_access_token"
AUDIENCE = ["https://api.example.com"]


def _sts_per_100(bench: Bench, tool: Any, calls: int) -> float:
    before = bench.env.call_count("GetWebIdentityToken")
    for _ in range(calls):
        tool("q")
    return round((bench.env.call_count("GetWebIdentityToken") - before) * 100 / calls, 2)


def run(bench: Bench, *, quick: bool = False) -> list[Row]:
    """Rows: ours vs the official decorator (seconds per call, STS calls per 100)."""
    from agentcore_auth import CredentialResolver, StsWebIdentitySource, requires_iam_access_token

    iam = bench.env.client("iam")
    try:
        iam.enable_outbound_web_identity_federation()
    except iam.exceptions.FeatureEnabledException:
        pass
    resolver = CredentialResolver(StsWebIdentitySource())

    @requires_iam_access_token(audience=AUDIENCE, resolver=resolver)
    def ours(q: str, *, access_token: str) -> int:
        return len(access_token)

    auth, missing = optional_import("bedrock_agentcore.identity.auth")
    if missing is not None:
        return [skipped_row(SCENARIO, "sync tool", missing)]

    @auth.requires_iam_access_token(audience=AUDIENCE)
    def official(q: str, *, access_token: str) -> int:
        return len(access_token)

    calls = 20 if quick else 100
    ours_per_100 = _sts_per_100(bench, ours, calls)
    official_per_100 = _sts_per_100(bench, official, calls)
    rounds = 3 if quick else 9
    times = interleave({"ours": batch(ours, ("q",), n=200 if quick else 2000),
                        "official": batch(official, ("q",), n=5 if quick else 20)}, rounds)
    resolver.close()
    return [time_row(SCENARIO, "sync tool, warm", times["ours"], times["official"],
                     "bedrock_agentcore requires_iam_access_token",
                     sts_per_100_calls=ours_per_100,
                     baseline_sts_per_100_calls=official_per_100)]
