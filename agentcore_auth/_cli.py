"""``agentcore-auth``: the command line, a thin argparse layer over the Python API.

Subcommands: ``demo``, ``doctor``, ``resolve``, ``providers``, ``emulator``. AWS
endpoints come from boto3's configuration (``AWS_ENDPOINT_URL_<SERVICE>``, profiles),
so the emulator needs no flag; ``--endpoint-url`` overrides the AgentCore endpoint.
The Region is ``--region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the
profile's. Everything printed passes through :func:`agentcore_auth.redact`.
Exit codes: 0 ok, 1 failed checks or a refused/absent credential, 2 usage or
configuration errors, 130 interrupted, 141 output pipe closed (``| head``).

Imports are lazy: ``--help`` loads neither boto3 nor moto.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._cli_env import DEFAULT_LISTEN_URL, USER_TOKEN_ENV, _control, _say, _session
from ._cli_resolve import _resolve

__all__ = ["main"]

PROG = "agentcore-auth"


def _aws(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS (default: boto3's configuration)")
    group.add_argument("--region", help="AWS Region (default: AWS_REGION, then "
                       "AWS_DEFAULT_REGION, then the profile's)")
    group.add_argument("--endpoint-url", help="AgentCore Identity endpoint (default: "
                       "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE[_CONTROL] or AWS's)")
    group.add_argument("--profile", help="AWS profile to use (default: AWS_PROFILE, else "
                       "the default credential chain)")


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _tag_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tag", action="append", metavar="KEY=VALUE",
                        help="a tag on the provider (repeat for more)")


def _version() -> str:
    """The installed distribution's version (the package's own when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentcore-auth")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, not {text!r}")
    return value


# --- doctor -------------------------------------------------------------------------------

_MARKS = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skip": "skip"}


def _doctor(args: argparse.Namespace) -> int:
    from ._doctor import diagnose
    from ._doctor_web_identity import diagnose_web_identity
    from ._exceptions import ConfigurationError

    subject = None
    if args.web_identity:
        report = diagnose_web_identity(region=args.region, session=_session(args))
        args.provider = args.provider or "(web identity)"
    elif args.queue_url:
        from ._doctor_queue import diagnose_queue

        report = diagnose_queue(args.queue_url, provider_name=args.provider, region=args.region,
                                endpoint_url=args.endpoint_url, session=_session(args))
        subject = f"queue {args.queue_url}" + (f" (provider {args.provider!r})"
                                               if args.provider else "")
    elif not args.provider:
        raise ConfigurationError("doctor needs a credential provider name, --queue-url URL for "
                                 "a RotationWatcher's queue, or --web-identity for IAM outbound "
                                 "web identity federation")
    elif args.broker:
        from ._doctor import diagnose_broker

        report = diagnose_broker(args.provider, pool=args.pool, region=args.region,
                                 endpoint_url=args.endpoint_url, session=_session(args))
    else:
        report = diagnose(args.provider, region=args.region, endpoint_url=args.endpoint_url,
                          session=_session(args), workload_name=args.workload)
    if args.json:
        _say(json.dumps(report.to_dict(), indent=2, default=str))
        return 0 if report.ok else 1
    _say(f"agentcore-auth doctor: {subject or f'provider {args.provider!r}'} in {report.region}")
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        _say(f"  {_MARKS[check.status]}  {check.name:<{width}}  {check.detail}")
    failures = report.failures
    for check in failures:
        _say(f"\nFIX {check.name}: {check.detail}")
        for line in (check.fix or "(no automatic fix)").splitlines():
            _say(f"    {line}")
    warned = sum(c.status == "warn" for c in report.checks)
    _say(f"\n{len(failures)} failed, {warned} warnings, "
         f"{sum(c.status == 'pass' for c in report.checks)} passed")
    return 0 if report.ok else 1


# --- providers ----------------------------------------------------------------------------

def _tags(pairs: list[str] | None) -> dict[str, str]:
    from ._exceptions import ConfigurationError

    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--tag {pair!r} must look like KEY=VALUE")
        tags[key] = value
    return tags


def _show(info: Any, as_json: bool) -> None:
    if as_json:
        _say(json.dumps(info.to_dict(), indent=2))
        return
    for key, value in info.to_dict().items():
        if value not in (None, {}, ""):
            _say(f"  {key:<13} {json.dumps(value) if isinstance(value, dict) else value}")


def _providers(args: argparse.Namespace) -> int:
    from . import _providers as api
    from ._arn import SecretRef, validate_provider_name

    if args.action == "list":
        found = api.list_providers(client=_control(args))
        if args.json:
            _say(json.dumps([p.to_dict() for p in found], indent=2))
        for p in [] if args.json else found:
            kind = "api key" if p.kind == "api_key" else f"oauth2 ({p.vendor})"
            _say(f"  {p.name:<30} {kind:<28} {p.arn}")
        if not found and not args.json:
            _say("no credential providers in this Region")
        return 0
    if args.action == "show":
        _show(api.describe_provider(args.name, client=_control(args)), args.json)
        return 0
    if args.action == "delete":
        info = api.delete_provider(args.name, client=_control(args))
        if args.json:
            _say(json.dumps({"deleted": info.to_dict()}, indent=2))
        else:
            _say(f"deleted {info.kind.replace('_', ' ')} credential provider {info.name!r}"
                 + (" (your referenced secret is unchanged)" if info.arn else ""))
        return 0
    validate_provider_name(args.name)  # before any client: a typo fails fast
    ref = SecretRef(args.secret_arn, args.json_key)
    if args.action == "create-api-key":
        info = api.create_api_key_provider(args.name, ref, client=_control(args),
                                           tags=_tags(args.tag))
    else:
        info = api.create_oauth2_provider(
            args.name, vendor=args.vendor, client_id=args.client_id, ref=ref,
            discovery_url=args.discovery_url, issuer=args.issuer,
            authorization_endpoint=args.authorization_endpoint,
            token_endpoint=args.token_endpoint, client=_control(args), tags=_tags(args.tag))
    _say(f"created {info.kind.replace('_', ' ')} credential provider {info.name!r} (EXTERNAL)")
    _show(info, args.json)
    _say(f"next: agentcore-auth doctor {info.name}   (checks the secret's policies and key)",
         err=args.json)
    return 0


# --- emulator and demo --------------------------------------------------------------------

def _emulator(args: argparse.Namespace) -> int:
    from .testing.__main__ import serve

    return serve(args.region or "us-east-1", say=_say, seed=args.seed)


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(use_agent=not args.no_agent).exit_code


# --- the parser and main ------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Outbound credentials for AI agent tools with Amazon Bedrock "
        "AgentCore Identity: preflight, resolve, create providers, run a local emulator.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (redacted)")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}",
                        help="print the installed agentcore-auth version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks (redacted)")

    p = sub.add_parser("demo", parents=[debug], help="run the local end-to-end demo (seconds)")
    p.add_argument("--no-agent", action="store_true", help="call the tools without Strands")
    p.set_defaults(handler=_demo)

    p = sub.add_parser(
        "doctor", parents=[debug], help="preflight a credential provider's secret",
        description="Check that AgentCore Identity can read the provider's referenced secret "
        "(Region, existence, JSON key, resource policy, KMS key policy, cross-account key, "
        "OAuth2 return URL, rotation, tags); prints the fix for each failure. Exit 1 on failure.",
        epilog="A secret in another account is read with your own credentials, so its resource "
        "policy (and key policy) must allow you too, or run with --profile of the owning "
        "account; on the local emulator the account is chosen for you. Secrets Manager and KMS "
        "endpoints come from boto3 (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_KMS).")
    p.add_argument("provider", nargs="?", help="credential provider name")
    p.add_argument("--web-identity", action="store_true",
                   help="check IAM outbound web identity federation (requires_iam_access_token) "
                   "and show its issuer")
    p.add_argument("--workload", help="workload identity (OAuth2 USER_FEDERATION return URL)")
    p.add_argument("--queue-url", metavar="URL", help="check a RotationWatcher's SQS queue "
                   "instead: it exists, an EventBridge rule sends it Secrets Manager's write "
                   "events, its policy lets EventBridge send, and these credentials (run with "
                   "the watcher's --profile) may receive and delete; with a provider name, "
                   "the rule is tried on that provider's secret")
    p.add_argument("--broker", action="store_true", help="an AWS IAM CredentialBroker provider "
                   "(name or ARN; experimental): checks for credentialbroker.amazonaws.com")
    p.add_argument("--pool", help="with --broker: the pool to find the provider name in")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _aws(p)
    p.set_defaults(handler=_doctor)

    p = sub.add_parser("resolve", parents=[debug], help="resolve a credential once (fingerprint, "
                       "length, latency; never the value)")
    p.add_argument("provider", help="credential provider name")
    p.add_argument("--scopes", nargs="*", help="OAuth2 scopes (makes it an OAuth2 resolve)")
    p.add_argument("--auth-flow", choices=["M2M", "USER_FEDERATION",
                                           "ON_BEHALF_OF_TOKEN_EXCHANGE"])
    p.add_argument("--user-id", help="resolve on behalf of this user")
    p.add_argument("--user-token", metavar="JWT|-",
                   help="the user's JWT (instead of --user-id); '-' reads it from standard "
                        f"input. Without this flag (and --user-id), ${USER_TOKEN_ENV} is read. "
                        "Prefer those two: a value on the command line is visible to other "
                        "users in the process list")
    p.add_argument("--show-auth-url", action="store_true",
                   help="USER_FEDERATION: print the consent URL and session URI if consent "
                        "is needed, then exit 1")
    p.add_argument("--wait", action="store_true",
                   help="USER_FEDERATION: print the consent URL, listen on a loopback return "
                        "URL (--return-url, else the first http://localhost:PORT/... or "
                        "127.0.0.1 URL registered on the workload), complete the consent for "
                        "--user-id when the browser lands there, then resolve. Without such a "
                        "URL it waits for another application to complete it")
    p.add_argument("--return-url", metavar="URL",
                   help="where the browser returns after consent (resourceOauth2ReturnUrl); "
                        "with --wait, a loopback URL this command listens on. It must be "
                        "registered on the workload: aws bedrock-agentcore-control "
                        "update-workload-identity --name WORKLOAD "
                        "--allowed-resource-oauth2-return-urls "
                        f"{DEFAULT_LISTEN_URL} (keep the URLs already there)")
    p.add_argument("--consent-timeout", type=_seconds, default=300.0, metavar="SECONDS",
                   help="how long --wait waits for consent (default 300)")
    p.add_argument("--session-uri",
                   help="USER_FEDERATION: resume the consent session this URI names")
    p.add_argument("--workload", help="workload identity (default $AGENTCORE_AUTH_WORKLOAD_NAME)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _aws(p)
    p.set_defaults(handler=_resolve)

    p = sub.add_parser("providers", help="create, list, show and delete credential providers",
                       description="Manage AgentCore Identity credential providers whose "
                       "secret is your own Secrets Manager secret (EXTERNAL), by ARN and JSON "
                       "key. Run `agentcore-auth doctor NAME` after creating one.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("create-api-key", parents=[debug],
                           help="create an API key provider referencing your secret")
    a.add_argument("--name", required=True, help="the provider's name (letters, digits, - _)")
    a.add_argument("--secret-arn", required=True, help="the secret's full ARN (same Region)")
    a.add_argument("--json-key", required=True, help="key of the JSON SecretString holding "
                   "the API key")
    _tag_flag(a)
    _json_flag(a)
    _aws(a)
    o = actions.add_parser("create-oauth2", parents=[debug],
                           help="create an OAuth2 provider referencing your client secret")
    o.add_argument("--name", required=True, help="the provider's name (letters, digits, - _)")
    o.add_argument("--vendor", required=True, help="e.g. CustomOauth2, GoogleOauth2, "
                   "GithubOauth2, SlackOauth2, MicrosoftOauth2")
    o.add_argument("--client-id", required=True, help="the OAuth2 client id at the IdP")
    o.add_argument("--secret-arn", required=True, help="ARN of the secret holding the OAuth2 "
                   "client secret (same Region)")
    o.add_argument("--json-key", required=True, help="key of the JSON SecretString holding "
                   "the client secret")
    o.add_argument("--discovery-url", help="CustomOauth2: .well-known document URL")
    o.add_argument("--issuer", help="CustomOauth2 without discovery URL (with the two below)")
    o.add_argument("--authorization-endpoint", help="CustomOauth2 without discovery URL: the "
                   "IdP's authorization endpoint")
    o.add_argument("--token-endpoint", help="CustomOauth2 without discovery URL: the IdP's "
                   "token endpoint")
    _tag_flag(o)
    _json_flag(o)
    _aws(o)
    ls = actions.add_parser("list", parents=[debug], help="list providers (both kinds)")
    _json_flag(ls)
    _aws(ls)
    sh = actions.add_parser("show", parents=[debug], help="show one provider")
    sh.add_argument("name", help="the provider's name")
    _json_flag(sh)
    _aws(sh)
    de = actions.add_parser("delete", parents=[debug], help="delete one provider (a "
                            "referenced secret stays; the vault's tokens for it go)")
    de.add_argument("name", help="the provider's name")
    _json_flag(de)
    _aws(de)
    p.set_defaults(handler=_providers)

    p = sub.add_parser("emulator", parents=[debug], help="run the local emulator in the "
                       "foreground and print how to point boto3 at it")
    p.add_argument("--region", help="the emulated Region (default us-east-1)")
    p.add_argument("--seed", action="store_true", help="create a demo secret, an API key "
                   "provider 'weather' and an OAuth2 provider 'local-idp'")
    p.set_defaults(handler=_emulator)
    return parser


def _fail(exc: BaseException, debug: bool, code: int, hint: str = "", prefix: str = "") -> int:
    import traceback

    from ._scrub import scrub_exception

    scrub_exception(exc)
    if debug:
        _say("".join(traceback.format_exception(exc)).rstrip(), err=True)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    _say(f"{PROG}: error: {prefix}{message}{hint}", err=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`agentcore-auth doctor ... | head`): end quietly, and keep
        # the interpreter's final flush of stdout from failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE, as a shell reports a writer the pipe ended


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    from ._exceptions import AgentCoreAuthError, ConfigurationError, CredentialError

    try:
        return int(args.handler(args))
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        _say(f"{PROG}: interrupted", err=True)
        return 130
    except ConfigurationError as exc:
        return _fail(exc, debug, 2)
    except (CredentialError, AgentCoreAuthError) as exc:
        return _fail(exc, debug, 1)
    except Exception as exc:
        if isinstance(exc, ModuleNotFoundError):
            from .testing import missing_extra_hint

            if extra := missing_extra_hint(exc):
                return _fail(ConfigurationError(extra), debug, 2)
        from ._aws import configuration_error

        name = type(exc).__name__
        if name != "ParamValidationError" and (error := configuration_error(exc, args.command)):
            error.__cause__ = exc
            return _fail(error, debug, 2)
        hint = "" if debug else " (run with --debug for the traceback)"
        return _fail(exc, debug, 2 if name == "ParamValidationError" else 1, hint,
                     prefix=f"{name}: ")
