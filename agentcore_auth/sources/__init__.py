"""Where credentials come from: AgentCore Identity, CredentialBroker, Secrets Manager, STS, env.

Implement :class:`CredentialSource` (one synchronous ``fetch``) to add your own.
"""

from ._agentcore import AgentCoreIdentitySource
from ._base import CredentialSource
from ._broker import CredentialBrokerSource
from ._env import EnvSource
from ._protect import protect_botocore
from ._secretsmanager import SecretsManagerSource
from ._sts import StsWebIdentitySource

__all__ = ["AgentCoreIdentitySource", "CredentialBrokerSource", "CredentialSource", "EnvSource",
           "SecretsManagerSource", "StsWebIdentitySource", "protect_botocore"]

for _name in __all__:
    globals()[_name].__module__ = __name__
