"""What the CLI reads from its environment (the AWS session, the user's JWT) and prints.

Kept apart from ``_cli.py`` (the parser and commands); imports stay lazy, so
``--help`` loads neither boto3 nor moto.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["DEFAULT_LISTEN_URL", "USER_TOKEN_ENV", "_control", "_say", "_session", "_user_token"]

_STDIN = "-"


def _say(text: str = "", *, err: bool = False) -> None:
    from ._redact import redact

    print(redact(text), file=sys.stderr if err else sys.stdout, flush=True)


def _control(args: argparse.Namespace) -> Any:
    from ._providers import control_client

    return control_client(region=args.region, endpoint_url=args.endpoint_url,
                          session=_session(args))


def _session(args: argparse.Namespace) -> Any:
    import boto3

    from ._aws import configuration_error

    try:
        return boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except Exception as exc:  # botocore's ProfileNotFound and friends
        error = configuration_error(exc, "reading the AWS configuration")
        if error is None:
            raise
        raise error from exc


#: The loopback return URL ``resolve --help`` suggests registering on the workload.
DEFAULT_LISTEN_URL = "http://localhost:8765/agentcore-auth/callback"

#: Where ``resolve`` reads the user's JWT when ``--user-token`` is not given.
USER_TOKEN_ENV = "AGENTCORE_AUTH_USER_TOKEN"  # noqa: S105 - a variable name, not a token


def _user_token(args: argparse.Namespace) -> str | None:
    """The user's JWT: ``--user-token -`` reads standard input, else the flag's value, else
    ``$AGENTCORE_AUTH_USER_TOKEN`` (when no ``--user-id`` is given)."""
    from ._exceptions import ConfigurationError

    token: str | None = args.user_token
    if token == _STDIN:
        token = sys.stdin.readline().strip()
        if not token:
            raise ConfigurationError("--user-token - found no token on standard input: pipe "
                                     "it in, e.g. `get-jwt | agentcore-auth resolve ... "
                                     "--user-token -`")
    elif token is None and args.user_id is None:
        token = os.environ.get(USER_TOKEN_ENV, "").strip() or None
    if token is not None and args.user_id is not None:
        raise ConfigurationError("pass only one of --user-id or --user-token (or "
                                 f"${USER_TOKEN_ENV}): they name the user two ways")
    return token
