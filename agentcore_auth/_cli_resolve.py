"""``agentcore-auth resolve``: one credential, its fingerprint and latency, never its value.

With ``--wait`` for USER_FEDERATION, the command completes the consent itself through a
loopback listener on the workload's return URL (:mod:`agentcore_auth._cli_consent`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from ._cli_env import _control, _say, _session, _user_token

__all__ = ["_resolve"]


def _resolve(args: argparse.Namespace) -> int:
    from ._exceptions import AuthorizationRequiredError, ConfigurationError
    from ._resolver import CredentialResolver
    from .sources import AgentCoreIdentitySource

    if not args.workload and not os.environ.get("AGENTCORE_AUTH_WORKLOAD_NAME"):
        raise ConfigurationError(
            "resolve needs a workload identity to get a workload access token: pass --workload "
            "NAME (or set AGENTCORE_AUTH_WORKLOAD_NAME); create one with aws "
            "bedrock-agentcore-control create-workload-identity --name NAME")
    source = AgentCoreIdentitySource(region=args.region, endpoint_url=args.endpoint_url,
                                     session=_session(args), workload_name=args.workload)
    oauth2 = (args.scopes is not None or args.auth_flow is not None
              or args.session_uri is not None or args.wait)
    if not oauth2 and args.user_token:
        raise ConfigurationError("--user-token is for OAuth2 resolves: add --scopes and "
                                 "--auth-flow (USER_FEDERATION or ON_BEHALF_OF_TOKEN_EXCHANGE)")
    user_token = _user_token(args) if oauth2 else None
    waited = False

    def show_and_wait(url: str) -> None:
        # Shown unredacted, on stderr, because the user asked to consent now (--wait).
        nonlocal waited
        waited = True
        print(f"consent needed: open {url}\nwaiting up to {args.consent_timeout:g} s for "
              "the user to consent...", file=sys.stderr, flush=True)
        if args.auth_flow == "USER_FEDERATION":
            _say("(no loopback return URL on the workload, so another application must "
                 "complete the consent; to let this command complete it, see --return-url in "
                 "--help)", err=True)

    listen_url = None
    if args.wait and args.auth_flow == "USER_FEDERATION":
        from ._cli_consent import registered_loopback_url

        listen_url = args.return_url or registered_loopback_url(_control(args),
                                                                source.workload_name or "")
        if listen_url and args.user_id is None and user_token is None:
            raise ConfigurationError("--wait completes the consent for a user: pass --user-id "
                                     "or --user-token")

    with CredentialResolver(source, consent_timeout=args.consent_timeout) as resolver:
        began = time.perf_counter()
        try:
            if listen_url:
                waited = True
                secret = _resolve_listening(args, resolver, source, user_token, listen_url)
            elif oauth2:
                secret = resolver.get_oauth2_token(
                    args.provider, scopes=args.scopes or [], auth_flow=args.auth_flow or "M2M",
                    user_id=args.user_id, user_token=user_token,
                    session_uri=args.session_uri, callback_url=args.return_url,
                    on_auth_url=show_and_wait if args.wait else None)
            else:
                secret = resolver.get_api_key(args.provider, user_id=args.user_id)
        except AuthorizationRequiredError as exc:
            # The URL carries a session reference (it is registered for redaction): shown,
            # unredacted and on stderr, only when asked for.
            if args.show_auth_url and not waited:
                print(f"consent needed: open {exc.authorization_url}", file=sys.stderr)
                if exc.session_uri:
                    print(f"after consenting, rerun with --session-uri {exc.session_uri}",
                          file=sys.stderr)
            elif not waited:
                _say("consent needed: rerun with --wait to print the authorization URL and "
                     "wait for consent, or --show-auth-url to print it and exit (sensitive: "
                     "for that user's eyes only)", err=True)
            raise
        elapsed = time.perf_counter() - began
    value = secret.reveal()
    kind = f"OAuth2 token ({args.auth_flow or 'M2M'})" if oauth2 else "API key"
    result = {"provider": args.provider, "kind": kind, "fingerprint": secret.fingerprint,
              "length": len(value), "latency_ms": round(elapsed * 1000, 1),
              "workload": source.workload_name, "region": source.region}
    if args.json:
        _say(json.dumps(result, indent=2))
    else:
        _say(f"{kind} of provider {args.provider!r} resolved through AgentCore Identity "
             f"({source.region}, workload {source.workload_name!r})")
        _say(f"  fingerprint {secret.fingerprint}, {len(value)} characters (value not shown)")
        what = ("including the wait for consent" if waited
                else "one uncached call, workload token included")
        _say(f"  latency     {elapsed * 1000:.1f} ms ({what})")
    return 0


def _resolve_listening(args: argparse.Namespace, resolver: Any, source: Any,
                       user_token: str | None, listen_url: str) -> Any:
    """USER_FEDERATION with --wait: show the URL, listen at the return URL, complete, fetch."""
    from ._cli_consent import ConsentListener
    from ._exceptions import AuthorizationRequiredError, CredentialError

    identifier = {"userId": args.user_id} if args.user_id else {"userToken": user_token or ""}

    def complete(session_uri: str) -> None:
        try:
            source.client.complete_resource_token_auth(userIdentifier=identifier,
                                                       sessionUri=session_uri)
        except Exception as exc:  # botocore's errors share no base we can name
            code = getattr(exc, "response", {}).get("Error", {}).get("Code",
                                                                     type(exc).__name__)
            raise CredentialError(f"CompleteResourceTokenAuth failed ({code}); run the "
                                  "command again to start a new consent",
                                  provider_name=args.provider) from exc

    def fetch(session_uri: str | None) -> Any:
        return resolver.get_oauth2_token(
            args.provider, scopes=args.scopes or [], auth_flow="USER_FEDERATION",
            user_id=args.user_id, user_token=user_token, session_uri=session_uri,
            callback_url=listen_url)

    with ConsentListener(listen_url, complete) as listener:
        try:
            return fetch(args.session_uri)
        except AuthorizationRequiredError as exc:
            if not exc.session_uri:
                raise
            pending = exc
        listener.expect(pending.session_uri or "")
        # Shown unredacted, on stderr, because the user asked to consent now (--wait).
        print(f"consent needed: open {pending.authorization_url}\nlistening on {listen_url} "
              f"for the browser's return, up to {args.consent_timeout:g} s...",
              file=sys.stderr, flush=True)
        deadline = time.monotonic() + args.consent_timeout
        while not listener.completed.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
            if listener.error is not None:
                raise CredentialError(listener.error, provider_name=args.provider)
            if time.monotonic() >= deadline:
                raise AuthorizationRequiredError(
                    f"no consent within {args.consent_timeout:g} s (--consent-timeout): the "
                    f"browser never came back to {listen_url}",
                    authorization_url=pending.authorization_url,
                    session_uri=pending.session_uri, provider_name=args.provider)
        _say("consent completed; fetching the token", err=True)
        return fetch(pending.session_uri)
