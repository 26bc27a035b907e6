"""Reusable Pulumi components for Azure OpenAI; plain typed args, no spec dependency.

Example::

    from skyrelay.pulumi.components import ModelDeployment, OpenAIAccount, OpenAIAccountArgs
"""

from skyrelay.pulumi.components.args import (
    AzureArgsError,
    ContentFilterPolicy,
    ExistingNetwork,
    ModelDeployment,
    OpenAIAccountArgs,
)
from skyrelay.pulumi.components.diagnostics import Diagnostics, DiagnosticsArgs
from skyrelay.pulumi.components.openai_account import OpenAIAccount
from skyrelay.pulumi.components.private_link import PrivateLink, PrivateLinkArgs
from skyrelay.pulumi.components.site_vpn import AwsTunnel, SiteVpn, SiteVpnArgs
from skyrelay.pulumi.rai_defaults import weaker_than_default

__all__ = [
    "AwsTunnel", "AzureArgsError", "ContentFilterPolicy", "Diagnostics", "DiagnosticsArgs",
    "ExistingNetwork", "ModelDeployment", "OpenAIAccount", "OpenAIAccountArgs", "PrivateLink",
    "PrivateLinkArgs", "SiteVpn", "SiteVpnArgs", "weaker_than_default",
]
