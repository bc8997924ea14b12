"""Test helpers: :class:`LocalAgentCore`, a local emulator of AgentCore Identity.

Importing this package starts nothing and imports neither moto nor boto3; the
names below load on first use. The pytest fixtures ``local_agentcore`` (a
session-scoped, started :class:`LocalAgentCore`) and ``clean_aws_environ`` (no
real AWS configuration or credentials reach the test) are registered by the
``agentcore_auth`` pytest plugin. ``python -m agentcore_auth.testing`` runs the
emulator in the foreground.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._env import DEFAULT_RETURN_URL, DEFAULT_WORKLOAD, GRANT_SERVICE, LocalAgentCore
    from ._helpers import ManualClock, fake_aws_environ
    from ._redis import LocalRedis
    from ._secrets import SERVICE_PRINCIPAL

__all__ = ["DEFAULT_RETURN_URL", "DEFAULT_WORKLOAD", "GRANT_SERVICE", "SERVICE_PRINCIPAL",
           "LocalAgentCore", "LocalRedis", "ManualClock", "fake_aws_environ"]

_LAZY = {
    "DEFAULT_RETURN_URL": "._env",
    "DEFAULT_WORKLOAD": "._env",
    "LocalAgentCore": "._env",
    "ManualClock": "._helpers",
    "LocalRedis": "._redis",
    "fake_aws_environ": "._helpers",
    "GRANT_SERVICE": "._env",
    "SERVICE_PRINCIPAL": "._secrets",
}


#: What the emulator runs on: the ``testing`` extra.
_EXTRA_MODULES = frozenset({"moto", "flask", "flask_cors", "werkzeug"})


def missing_extra_hint(exc: ModuleNotFoundError) -> str | None:
    """The install hint when ``exc`` is a module of the ``testing`` extra, else None."""
    if (exc.name or "").split(".")[0] not in _EXTRA_MODULES:
        return None
    return (f"the local emulator needs the testing extra (no module named {exc.name!r}): "
            "pip install 'agentcore-auth[testing]', or from a checkout "
            "pip install -e '.[testing]'")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        try:
            module = importlib.import_module(_LAZY[name], __name__)
        except ModuleNotFoundError as exc:
            hint = missing_extra_hint(exc)
            if hint is None:
                raise
            raise ModuleNotFoundError(hint, name=exc.name) from exc
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
