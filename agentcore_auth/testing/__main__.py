"""``python -m agentcore_auth.testing``: run the local emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import threading
from collections.abc import Callable

from ._env import LocalAgentCore


def serve(region: str = "us-east-1", *, say: Callable[[str], object] = print,
          seed: bool = False) -> int:
    """Run LocalAgentCore until SIGINT or SIGTERM, printing how to reach it; return 0.

    Both signals only set an event, so a Ctrl-C at any moment (even during
    start-up) stops cleanly. ``agentcore-auth emulator`` uses this too. With
    ``seed``, demo resources are created first (:func:`._seed.seed`).
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LocalAgentCore(region=region) as env:
            say(f"AgentCore Identity (both planes): {env.endpoint_url}")
            say(f"Secrets Manager / KMS / STS:      {env.aws_endpoint_url}")
            say(f"OAuth2 discovery:                 {env.oauth_discovery_url}")
            say(f"Workload identity:                {env.workload_name} (return URL "
                f"{', '.join(env.return_urls) or 'none'})")
            say(f"Started in {env.startup_seconds:.2f}s. Point boto3, the AWS CLI and "
                "agentcore-auth at it with:")
            for name, value in env.env_vars().items():
                say(f"  export {name}={shlex.quote(value)}")
            say(f"or pass --endpoint-url {env.endpoint_url} (AgentCore) to agentcore-auth, or "
                f"aws --endpoint-url {env.aws_endpoint_url} secretsmanager ...")
            if seed:
                from ._seed import seed as create_demo

                for line in create_demo(env).lines():
                    say(line)
            say("Ctrl-C (or SIGTERM) stops.")
            stop.wait()
            say("stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, then :func:`serve`."""
    parser = argparse.ArgumentParser(
        prog="python -m agentcore_auth.testing",
        description="Local AgentCore Identity, Secrets Manager, KMS, STS and OAuth2 emulator.")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--seed", action="store_true",
                        help="create a demo secret, API key and OAuth2 providers")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests (DEBUG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    return serve(args.region, say=lambda line: print(line, flush=True), seed=args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
