"""A small, pure evaluator of IAM resource and key policies for one service principal.

It answers one question: does this policy let the service principal
(``bedrock-agentcore.amazonaws.com``) perform an action on a resource? It is
what the local emulator uses to judge a secret's resource policy and a KMS key
policy, and what ``agentcore-auth doctor`` uses against real AWS.

Rules followed (a subset of IAM's): an explicit ``Deny`` wins over any
``Allow``; nothing allowed means denied. ``Principal`` / ``NotPrincipal``,
``Action`` / ``NotAction`` and ``Resource`` / ``NotResource`` are matched with
IAM's ``*`` and ``?`` wildcards, actions case-insensitively. ``Condition``
blocks cannot be judged without a request context: a statement with one is
assumed to apply, and every condition met this way is listed in
:attr:`PolicyDecision.unsupported_conditions` so callers can say so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ._exceptions import ConfigurationError

__all__ = ["PolicyDecision", "evaluate_policy"]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The outcome of :func:`evaluate_policy`.

    Attributes:
        allowed: an Allow statement applies and no Deny does.
        explicit_deny: a Deny statement applies.
        matched_statements: the Sids (or ``"#<index>"``) of the statements that applied.
        unsupported_conditions: the condition operators and keys of applied statements
            that could not be judged (``"StringEquals aws:SourceAccount"``).
    """

    allowed: bool
    explicit_deny: bool
    matched_statements: tuple[str, ...] = ()
    unsupported_conditions: tuple[str, ...] = ()


@lru_cache(maxsize=512)
def _wildcard(pattern: str, ignore_case: bool) -> tuple[tuple[re.Pattern[str], int], ...]:
    """The ``*``-free segments of ``pattern``, each compiled (``?`` is one character).

    One regex with a ``.*`` per ``*`` backtracks exponentially on patterns such as
    ``*a*a*a*a*a*a*a*a*a*a*z`` (a policy could hang the doctor), so segments are
    matched one after another instead, which is linear per segment.
    """
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return tuple(
        (re.compile("".join("." if ch == "?" else re.escape(ch) for ch in part), flags), len(part))
        for part in pattern.split("*")
    )


def _match(pattern: str, value: str, ignore_case: bool) -> bool:
    """IAM wildcard match: ``*`` any run of characters, ``?`` any one character."""
    parts = _wildcard(pattern, ignore_case)
    if len(parts) == 1:
        return parts[0][0].fullmatch(value) is not None
    (first, pos), *middle, (last, last_len) = parts
    if first.match(value) is None:
        return False
    for part, _ in middle:  # the leftmost match of each segment leaves the most room
        found = part.search(value, pos)
        if found is None:
            return False
        pos = found.end()
    start = len(value) - last_len  # each segment character matches exactly one character
    return start >= pos and last.fullmatch(value, start) is not None


def _matches(patterns: Iterable[str], value: str, *, ignore_case: bool) -> bool:
    return any(_match(p, value, ignore_case) for p in patterns)


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"policy {what} must be a string or a list of strings")


def _principal_matches(principal: object, service: str, what: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise ConfigurationError(
            f'policy {what} must be "*" or an object such as {{"Service": "{service}"}}'
        )
    for kind, value in principal.items():
        names = _strings(value, f"{what}.{kind}")
        if kind == "AWS" and "*" in names:
            return True  # {"AWS": "*"} means everyone, service principals included
        if kind == "Service" and any(n.lower() == service.lower() for n in names):
            return True
    return False


def _applies(
    statement: Mapping[str, Any],
    where: str,
    *,
    principal_service: str,
    action: str,
    resource: str | None,
) -> bool:
    if "Principal" in statement:
        if not _principal_matches(statement["Principal"], principal_service, f"{where}.Principal"):
            return False
    elif "NotPrincipal" in statement:
        not_principal = statement["NotPrincipal"]
        if _principal_matches(not_principal, principal_service, f"{where}.NotPrincipal"):
            return False
    if "Action" in statement:
        if not _matches(_strings(statement["Action"], f"{where}.Action"), action, ignore_case=True):
            return False
    elif "NotAction" in statement:
        not_actions = _strings(statement["NotAction"], f"{where}.NotAction")
        if _matches(not_actions, action, ignore_case=True):
            return False
    else:
        raise ConfigurationError(f"policy {where} has neither Action nor NotAction")
    if resource is not None:
        if "Resource" in statement:
            patterns = _strings(statement["Resource"], f"{where}.Resource")
            if not _matches(patterns, resource, ignore_case=False):
                return False
        elif "NotResource" in statement:
            patterns = _strings(statement["NotResource"], f"{where}.NotResource")
            if _matches(patterns, resource, ignore_case=False):
                return False
    return True


def _conditions(statement: Mapping[str, Any], where: str) -> list[str]:
    condition = statement.get("Condition")
    if condition is None:
        return []
    if not isinstance(condition, Mapping):
        raise ConfigurationError(f"policy {where}.Condition must be an object")
    found: list[str] = []
    for operator, block in condition.items():
        keys = block.keys() if isinstance(block, Mapping) else ["?"]
        found.extend(f"{operator} {key}" for key in keys)
    return found


def _load(policy: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(policy, str):
        try:
            document = json.loads(policy)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"policy is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from exc
    else:
        document = policy
    if not isinstance(document, Mapping):
        raise ConfigurationError("policy must be a JSON object with a Statement member")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise ConfigurationError("policy has no Statement (an object or a list of objects)")
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping):
            raise ConfigurationError(f"policy Statement[{index}] is not an object")
    return statements


def evaluate_policy(
    policy: str | Mapping[str, Any] | None,
    *,
    principal_service: str,
    action: str,
    resource: str | None = None,
) -> PolicyDecision:
    """Judge whether ``policy`` lets a service principal perform ``action``.

    Args:
        policy: the policy document, as JSON text or already parsed; ``None`` (no
            policy at all) allows nothing.
        principal_service: the service principal, e.g. ``"bedrock-agentcore.amazonaws.com"``.
        action: the action, e.g. ``"secretsmanager:GetSecretValue"``.
        resource: the resource ARN; ``None`` skips the Resource check.

    Returns:
        The decision, with the statements that applied and the conditions not judged.

    Raises:
        ConfigurationError: the policy is not valid JSON or not shaped like a policy.
    """
    if policy is None:
        return PolicyDecision(allowed=False, explicit_deny=False)
    allow: list[str] = []
    deny: list[str] = []
    unsupported: list[str] = []
    for index, statement in enumerate(_load(policy)):
        where = f"Statement[{index}]"
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise ConfigurationError(f'policy {where}.Effect must be "Allow" or "Deny"')
        if not _applies(
            statement, where, principal_service=principal_service, action=action, resource=resource
        ):
            continue
        sid = statement.get("Sid")
        label = sid if isinstance(sid, str) and sid else f"#{index}"
        (allow if effect == "Allow" else deny).append(label)
        unsupported.extend(c for c in _conditions(statement, where) if c not in unsupported)
    return PolicyDecision(
        allowed=bool(allow) and not deny,
        explicit_deny=bool(deny),
        matched_statements=tuple(deny + allow),
        unsupported_conditions=tuple(unsupported),
    )
