"""The integration kit: what an agent-framework adapter builds on, with no framework import.

Adapters (``agentcore_auth_strands``, ``agentcore_auth_langchain``, ...) import only
this module and :mod:`agentcore_auth`, never ``agentcore_auth._*``. Around each tool
call an adapter typically:

1. reads the caller from the framework's one trusted per-request source with
   :func:`identity_from` (an :class:`~agentcore_auth.IdentityHandle` there stands for
   the tokens; raw tokens are refused) and sets it with :func:`identity_scope`;
2. runs the tool; finds an :class:`~agentcore_auth.AuthorizationRequiredError` in
   what the framework raised with :func:`find_exception`, records the session for
   that user in :class:`ConsentSessions` and hands the app a :class:`ConsentRequest`
   the framework's way (an interrupt, an elicitation, a tool message);
3. retries once on :class:`~agentcore_auth.CredentialRejectedError`;
4. scrubs tool results and model input with :func:`scrub_result`, escaping
   exceptions with :func:`scrub_error`, and the framework's side-channel streams
   (stream writers, event streams) with :class:`FieldStreamScrubber`.

:func:`credential_requirements` reads what a decorated function needs, so an adapter
can resolve ahead of a call; :func:`consent_handler` chooses, for the duration of a
call, what a needed consent raises, and :func:`rejection_handler` what a credential
refused after the decorators' refetch raises. :class:`PendingConsents` keeps a
link handed out per whole identity and asks the service before handing it out again.
"""

from __future__ import annotations

from .._consent_hook import ConsentHandler, RejectionHandler, consent_handler, rejection_handler
from ._kit import (
    ConsentRequest,
    CredentialRequirement,
    IdentityKeys,
    credential_requirements,
    find_exception,
    identity_from,
    identity_scope,
    raw_token_error,
    scrub_error,
    scrub_result,
)
from ._pending import PendingConsents, identity_key
from ._sessions import (
    DEFAULT_SESSION_TTL,
    ConsentSession,
    ConsentSessions,
    ConsentSessionStore,
    InMemoryConsentSessionStore,
    user_token_fingerprint,
)
from ._streams import FieldStreamScrubber, scrubbing_writer

__all__ = [
    "DEFAULT_SESSION_TTL",
    "ConsentHandler",
    "ConsentRequest",
    "ConsentSession",
    "ConsentSessionStore",
    "ConsentSessions",
    "CredentialRequirement",
    "FieldStreamScrubber",
    "IdentityKeys",
    "InMemoryConsentSessionStore",
    "PendingConsents",
    "RejectionHandler",
    "consent_handler",
    "credential_requirements",
    "find_exception",
    "identity_from",
    "identity_key",
    "identity_scope",
    "raw_token_error",
    "rejection_handler",
    "scrub_error",
    "scrub_result",
    "scrubbing_writer",
    "user_token_fingerprint",
]

for _name in __all__:
    _obj = globals().get(_name)
    if getattr(_obj, "__module__", "").startswith("agentcore_auth."):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass
