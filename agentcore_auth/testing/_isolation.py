"""Keep the user's AWS set-up out of the emulator: its own clients, and what it exports.

A developer's shell often has ``AWS_PROFILE`` (maybe naming a profile that needs
SSO), a config file with ``endpoint_url`` or a Region, and real credentials. None of
that may break LocalAgentCore or reach it:

* the emulator's own boto3 clients come from a session that reads no environment
  variable, no config file and no credentials file (:func:`isolated_session`);
* :meth:`LocalAgentCore.env_vars` points ``AWS_CONFIG_FILE`` and
  ``AWS_SHARED_CREDENTIALS_FILE`` at files the emulator writes (:class:`AwsFiles`),
  selects their profile, and blanks ``AWS_SESSION_TOKEN``, so code run with those
  variables talks to the emulator with its dummy keys whatever else the shell holds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

__all__ = ["PROFILE", "AwsFiles", "isolated_session"]

PROFILE = "agentcore-local"
"""The profile name written into the emulator's config and credentials files."""


def isolated_session(**kwargs: Any) -> Any:
    """A boto3 session blind to ``AWS_*`` variables and to ``~/.aws`` files.

    botocore's session variables each name an environment variable and a config-file
    key; here both are removed (the defaults stay), and the config and credentials
    files are the null device, so no profile, Region, endpoint or key leaks in.
    ``kwargs`` go to ``boto3.session.Session`` (``region_name``, keys).
    """
    import boto3
    import botocore.session
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

    session_vars = {name: (None, None, default, conversion)
                    for name, (_, _, default, conversion)
                    in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()}
    session_vars.update(profile=(None, None, None, None),
                        config_file=(None, None, os.devnull, None),
                        credentials_file=(None, None, os.devnull, None))
    core = botocore.session.Session(session_vars=session_vars)
    return boto3.session.Session(botocore_session=core, **kwargs)


class AwsFiles:
    """A config file and a credentials file, with one profile, for the exported variables.

    Args:
        region: the Region written into the profile.
    """

    def __init__(self, region: str) -> None:
        self.directory = tempfile.mkdtemp(prefix="agentcore-local-")
        self.config_file = os.path.join(self.directory, "config")
        self.credentials_file = os.path.join(self.directory, "credentials")
        with open(self.config_file, "w", encoding="utf-8") as out:
            out.write(f"[profile {PROFILE}]\nregion = {region}\n")
        with open(self.credentials_file, "w", encoding="utf-8") as out:
            out.write(f"[{PROFILE}]\naws_access_key_id = testing\n"
                      "aws_secret_access_key = testing\n")

    def remove(self) -> None:
        """Delete both files."""
        shutil.rmtree(self.directory, ignore_errors=True)
