"""Payment tokens (``GetResourcePaymentToken``), as stand-ins signed with the provider's secrets.

The real service signs Coinbase CDP bearer JWTs with the API key secret (ES256 or
Ed25519) and Stripe/Privy authorization signatures with the authorization private
key (P-256). The emulator keeps the shapes and what they depend on, and signs
with HMAC-SHA256 over the same inputs instead: a token verifies with the secret
that was current when it was made, so rotation and wrong-secret set-ups show up,
but a real payment API would not accept it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

from ._jwt import sign
from ._state import PaymentProvider
from ._wire import validation

__all__ = ["payment_token"]


def payment_token(provider: PaymentProvider, values: dict[str, str],
                  request: dict[str, Any]) -> dict[str, Any]:
    """The ``paymentTokenResponse`` for ``request``, from the provider's current secrets."""
    now = int(time.time())
    if provider.vendor == "CoinbaseCDP":
        ask = request.get("coinbaseCdpTokenRequest")
        if not isinstance(ask, dict):
            raise validation("paymentTokenRequest.coinbaseCdpTokenRequest", "provider "
                             f"{provider.name!r} is CoinbaseCDP: send coinbaseCdpTokenRequest")
        uri = f"{ask['requestMethod']} {ask.get('requestHost') or 'api.cdp.coinbase.com'}" \
              f"{ask['requestPath']}"
        claims = {"iss": "cdp", "sub": provider.plain.get("apiKeyId"), "nbf": now, "iat": now,
                  "exp": now + 120, "uris": [uri], "jti": secrets.token_hex(16)}
        response: dict[str, Any] = {"bearerToken": sign(claims, values["apiKeySecret"].encode())}
        if ask.get("includeWalletAuthToken"):
            body = (ask.get("requestBody") or "").encode()
            wallet = {"iat": now, "nbf": now, "exp": now + 60, "jti": secrets.token_hex(16),
                      "uris": [uri],
                      "reqHash": hashlib.sha256(body).hexdigest()}
            response["walletAuthToken"] = sign(wallet, values["walletSecret"].encode())
        return {"coinbaseCdpTokenResponse": response}
    ask = request.get("stripePrivyTokenRequest")
    if not isinstance(ask, dict):
        raise validation("paymentTokenRequest.stripePrivyTokenRequest", "provider "
                         f"{provider.name!r} is StripePrivy: send stripePrivyTokenRequest")
    app_id = str(provider.plain.get("appId"))
    basic = base64.b64encode(f"{app_id}:{values['appSecret']}".encode()).decode()
    out: dict[str, Any] = {"appId": app_id, "basicAuthToken": basic}
    if ask.get("includeAuthorizationSignature"):
        expiry = (now + 300) * 1000
        payload = f"{expiry}.{ask.get('requestHost') or 'api.privy.io'}{ask['requestPath']}." \
                  f"{ask['requestBody']}".encode()
        mac = hmac.new(values["authorizationPrivateKey"].encode(), payload, hashlib.sha256)
        out.update(authorizationSignature=base64.b64encode(mac.digest()).decode(),
                   requestExpiry=expiry)
    return {"stripePrivyTokenResponse": out}
