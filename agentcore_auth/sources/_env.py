"""EnvSource: credentials from environment variables, for local development and tests."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .._arn import validate_provider_name
from .._credential import Credential, CredentialRequest
from .._exceptions import ConfigurationError, CredentialNotFoundError
from .._identity import Identity
from .._secret import Secret

__all__ = ["EnvSource"]

SOURCE = "env"


class EnvSource:
    """Reads each provider's credential from an environment variable, at every fetch.

    Args:
        variables: provider name -> environment variable name.
        environ: the mapping to read (defaults to ``os.environ``).

    Example:
        >>> source = EnvSource({"weather": "WEATHER_API_KEY"})
    """

    name = SOURCE

    def __init__(
        self, variables: Mapping[str, str], *, environ: Mapping[str, str] | None = None
    ) -> None:
        for provider_name, variable in variables.items():
            validate_provider_name(provider_name)
            if not isinstance(variable, str) or not variable:
                raise ConfigurationError(
                    f"provider {provider_name!r} must map to an environment variable name"
                )
        self.variables = dict(variables)
        self._environ = os.environ if environ is None else environ

    def __repr__(self) -> str:
        return f"EnvSource(variables={self.variables!r})"

    def binding(self) -> tuple[str, ...]:
        """What a shared tier binds this source's values to: its kind and variable mapping."""
        return (SOURCE, json.dumps(self.variables, sort_keys=True))

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        """Read the variable mapped to ``request.provider_name``."""
        name = request.provider_name
        variable = self.variables.get(name)
        if variable is None:
            raise CredentialNotFoundError(
                f"no environment variable configured for provider {name!r}; add it to EnvSource",
                provider_name=name,
                source=SOURCE,
            )
        value = self._environ.get(variable)
        if not value:
            raise CredentialNotFoundError(
                f"environment variable {variable} (provider {name!r}) is not set or empty",
                provider_name=name,
                source=SOURCE,
            )
        return Credential(Secret(value, name=name))
