"""``python -m agentcore_auth.testing``: run the local emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import threading

from ._env import LocalAgentCore


def main(argv: list[str] | None = None) -> int:
    """Start LocalAgentCore, print how to reach it, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m agentcore_auth.testing",
        description="Local AgentCore Identity, Secrets Manager, KMS, STS and OAuth2 emulator.")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests (DEBUG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    with LocalAgentCore(region=args.region) as env:
        print(f"AgentCore Identity (both planes): {env.endpoint_url}")
        print(f"Secrets Manager / KMS / STS:      {env.aws_endpoint_url}")
        print(f"OAuth2 discovery:                 {env.oauth_discovery_url}")
        print(f"Started in {env.startup_seconds:.2f}s. Environment for boto3 / the AWS CLI:")
        for name, value in env.env_vars().items():
            print(f"  export {name}={value}")
        print(f"or: aws --endpoint-url {env.endpoint_url} bedrock-agentcore-control ...")
        print("Ctrl-C stops.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
