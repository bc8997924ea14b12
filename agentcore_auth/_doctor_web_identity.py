"""The doctor's web identity check: is IAM outbound web identity federation on, and its issuer.

``requires_iam_access_token`` needs it enabled once per account; the issuer is what
the verifying service must trust (its ``/.well-known/openid-configuration``).
"""

from __future__ import annotations

from typing import Any

from ._doctor_checks import Check, DoctorReport
from ._logging import ensure_log_redaction

__all__ = ["diagnose_web_identity"]

_FIX = ("aws iam enable-outbound-web-identity-federation\n"
        "# then trust the printed issuer in the service that verifies the tokens")


def diagnose_web_identity(*, region: str | None = None, session: Any = None,
                          client: Any = None) -> DoctorReport:
    """Report whether outbound web identity federation is enabled, and the issuer.

    Args:
        region: the Region of the report (IAM is global); default boto3's.
        session: a boto3 Session for the IAM client.
        client: a ready ``iam`` boto3 client.
    """
    ensure_log_redaction()
    if client is None:
        import boto3

        client = (session or boto3.session.Session()).client("iam")
    report = DoctorReport("web-identity", region or str(client.meta.region_name))
    try:
        info = client.get_outbound_web_identity_federation_info()
    except Exception as exc:  # noqa: BLE001 - every failure is reported as a check
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("FeatureDisabled", "FeatureDisabledException"):
            report.checks.append(Check("web identity federation", "fail",
                                       "outbound web identity federation is not enabled for "
                                       "this account", _FIX))
        else:
            report.checks.append(Check(
                "web identity federation", "fail",
                f"could not read it ({code or type(exc).__name__})",
                "grant iam:GetOutboundWebIdentityFederationInfo to the caller"))
        return report
    issuer = info.get("IssuerIdentifier")
    if info.get("JwtVendingEnabled"):
        report.checks.append(Check("web identity federation", "pass",
                                   f"enabled; issuer {issuer}"))
    else:
        report.checks.append(Check("web identity federation", "fail",
                                   f"disabled (issuer {issuer})", _FIX))
    return report
