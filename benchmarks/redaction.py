"""Redaction throughput: the Redactor's matchers against a naive replace loop.

Text is about 1 MB of botocore/urllib3/httpx DEBUG-style lines with a few real
secret occurrences (raw, JSON-escaped, ``Basic`` base64). Every case and its
baseline run interleaved in the same process; figures are medians.

Run ``python -m benchmarks.redaction [--quick]`` for a table.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import string
import time
import uuid
from collections.abc import Callable

from agentcore_auth._redact import MATCHERS, Redactor, secret_patterns

_ALPHABET = string.ascii_letters + string.digits


def _secret(rng: random.Random) -> str:
    return "sk-live-" + "".join(rng.choices(_ALPHABET, k=32))


def _log_text(rng: random.Random, size: int, secrets: list[str]) -> str:
    """Log-like text of about ``size`` characters with ~10 secret occurrences."""
    ua = "Boto3/1.44.5 md/Botocore#1.44.5 ua/2.1 os/linux#6.1 md/arch#x86_64 lang/python#3.11.7"
    templates = [
        "{ts} DEBUG botocore.endpoint Making request for OperationModel(name=GetSecretValue) "
        "with params: {{'url_path': '/', 'method': 'POST', 'headers': {{'X-Amz-Target': "
        "'secretsmanager.GetSecretValue', 'User-Agent': '" + ua + "'}}, "
        "'body': b'{{\"SecretId\": \"prod/{name}\"}}'}}",
        "{ts} DEBUG botocore.parsers Response headers: {{'x-amzn-RequestId': '{uid}', "
        "'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': '{n}'}}",
        '{ts} DEBUG botocore.parsers Response body:\nb\'{{"ARN":"arn:aws:secretsmanager:'
        'us-east-1:123456789012:secret:prod/{name}-AbCdEf","Name":"prod/{name}",'
        '"VersionId":"{uid}","VersionStages":["AWSCURRENT"]}}\'',
        "{ts} DEBUG urllib3.connectionpool https://secretsmanager.us-east-1.amazonaws.com:443 "
        '"POST / HTTP/1.1" 200 {n}',
        "{ts} DEBUG httpcore.http11 send_request_headers.started request=<Request [b'GET']>",
        "{ts} INFO httpx HTTP Request: GET https://api.example.com/v1/forecast?city={name}&"
        'id={uid} "HTTP/1.1 200 OK"',
    ]
    leaks = [
        lambda s: f"{{'Authorization': 'Bearer {s}'}}",
        lambda s: json.dumps({"SecretString": json.dumps({"apiKey": s})}),
        lambda s: "Authorization: Basic " + base64.b64encode(f"user:{s}".encode()).decode(),
    ]
    lines, total = [], 0
    while total < size:
        line = rng.choice(templates).format(
            ts=f"2026-05-01 12:{rng.randrange(60):02d}:{rng.randrange(60):02d},123",
            uid=uuid.UUID(int=rng.getrandbits(128)),
            name=rng.choice(["weather", "github", "slack", "jira"]),
            n=rng.randrange(100, 5000),
        )
        if secrets and rng.random() < 10 * 300 / size:
            line += " " + rng.choice(leaks)(rng.choice(secrets))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)


def _naive(redactor_values: list[str], name: str = "n") -> Callable[[str], str]:
    pairs = sorted({p for v in redactor_values for p in secret_patterns(v)}, key=len, reverse=True)
    marker = f"[REDACTED:{name}]"

    def sub(text: str) -> str:
        for pattern in pairs:
            text = text.replace(pattern, marker)
        return text

    return sub


def _time(fn: Callable[[str], str], text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def _row(
    case: str, size: int, ours: list[float], base: list[float], base_size: int
) -> dict[str, object]:
    mb_s = size / statistics.median(ours) / 1e6
    base_mb_s = base_size / statistics.median(base) / 1e6 if base else None
    ours_sorted = sorted(ours)
    return {
        "scenario": "redaction",
        "case": case,
        "mb_per_s": round(mb_s, 1),
        "median_s": statistics.median(ours),
        "p99_s": ours_sorted[min(len(ours_sorted) - 1, int(0.99 * len(ours_sorted)))],
        "baseline": "naive replace loop",
        "baseline_mb_per_s": round(base_mb_s, 2) if base_mb_s else None,
        "ratio": round(mb_s / base_mb_s, 1) if base_mb_s else None,
    }


def run(quick: bool = False) -> list[dict[str, object]]:
    """Measure and return one row per case (see the module docstring)."""
    rng = random.Random(20260501)
    size = 256_000 if quick else 1_000_000
    reps = 3 if quick else 9
    counts = [10, 100, 1000] if quick else [10, 100, 1000, 10_000]
    values = [_secret(rng) for _ in range(max(counts))]
    rows: list[dict[str, object]] = []
    cases = [(n, None) for n in counts] + [(1000, m) for m in MATCHERS]
    for n, matcher in cases:
        redactor = Redactor(matcher=matcher, max_values=n)
        for value in values[:n]:
            redactor.register(value, name="n")
        text = _log_text(rng, size, values[: min(n, 20)])
        start = time.perf_counter()
        redactor.redact(text)  # builds the matcher
        build_s = time.perf_counter() - start
        naive = _naive(values[:n])
        # The naive loop is O(patterns x text); time it on a slice it can finish.
        base_text = text[: max(2_000, min(size, size * 100 // n // (4 if quick else 1)))]
        ours, base = [], []
        for _ in range(reps):  # interleaved, so drift hits both alike
            ours.append(_time(redactor.redact, text))
            if matcher is None:
                base.append(_time(naive, base_text))
        label = matcher or f"default ({redactor.matcher})"
        row = _row(f"{label}, {n} values", size, ours, base, len(base_text))
        row["build_s"] = round(build_s, 4)
        rows.append(row)
    line = _log_text(rng, 300, [])
    redactor = Redactor(max_values=1000)
    for value in values[:1000]:
        redactor.register(value, name="n")
    redactor.redact(line)
    calls = [_time(redactor.redact, line) for _ in range(2000 if quick else 20_000)]
    rows.append(
        {
            "scenario": "redaction",
            "case": f"one {len(line)}-char log line, 1000 values",
            "median_s": statistics.median(calls),
            "p99_s": sorted(calls)[int(0.99 * len(calls))],
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    print(f"{'case':<40} {'MB/s':>8} {'naive MB/s':>11} {'ratio':>7} {'median':>10} {'build':>8}")
    for r in rows:
        print(
            f"{r['case']!s:<40} {r.get('mb_per_s', '')!s:>8} "
            f"{r.get('baseline_mb_per_s', '')!s:>11} {r.get('ratio', '')!s:>7}"
            f" {r['median_s']:>10.6f} {r.get('build_s', '')!s:>8}"
        )


if __name__ == "__main__":
    main()
