"""What the spec says about the private path (``gateway_path: private-vpn``), derived once.

The AWS VPN stacks, ``skyrelay link``, the reachability view, the plan and the policy rules
all read these, so a name or a number is written here only:

* :func:`private_vpn_accounts`: the Azure accounts whose gateways reach them over the VPN;
* :func:`vpn_stack_name`: ``<platform>-<region>-vpn``, one per gateway region (the name the
  :mod:`skyrelay.vpn_link` docstring uses);
* :func:`peer_index`: the gateway region's position in ``gateway.regions``; the AWS peer
  ``p`` takes the tunnel inside /30s :func:`skyrelay.vpn_plan.inside_cidrs` ``(p)``, the same
  on both clouds, so no two regions share a BGP address on the Azure gateway;
* :func:`forwarded_domains`: the names the Route 53 Resolver forwards to Azure's DNS Private
  Resolver, exactly the account's hostnames. An account's private endpoint (group
  ``account``) is answered from the three privatelink zones of
  https://learn.microsoft.com/azure/private-link/private-endpoint-dns ("AI + Machine
  Learning": ``privatelink.cognitiveservices.azure.com``, ``privatelink.openai.azure.com``,
  ``privatelink.services.ai.azure.com``); the public name ``<sub>.openai.azure.com`` is a
  CNAME to ``<sub>.privatelink.openai.azure.com``, so both names of each zone are forwarded
  (and nothing else: other accounts' and services' names stay with Route 53).

Example::

    from skyrelay.views.private_path import forwarded_domains, private_vpn_accounts
    for account in private_vpn_accounts(spec):
        print(forwarded_domains(account))
        # ('contoso.openai.azure.com', 'contoso.privatelink.openai.azure.com', ...)
"""

from __future__ import annotations

from skyrelay.spec.models import AzureAccount, Spec
from skyrelay.vpn_plan import inside_cidrs

#: The public zones of an account's endpoints and, for each, the privatelink zone that
#: answers for it inside the account's network (the Pulumi side's ACCOUNT_DNS_ZONES).
ACCOUNT_ZONES = ("openai.azure.com", "cognitiveservices.azure.com", "services.ai.azure.com")
PRIVATE_VPN = "private-vpn"


def private_vpn_accounts(spec: Spec) -> list[AzureAccount]:
    """The Azure accounts with ``gateway_path: private-vpn``, in the spec's order."""
    return [a for a in (spec.azure.accounts if spec.azure else ())
            if a.gateway_path == PRIVATE_VPN]


def vpn_stack_name(platform: str, region: str) -> str:
    """Name of the VPN stack of gateway region ``region``."""
    return f"{platform}-{region}-vpn"


def vpn_regions(spec: Spec) -> list[str]:
    """The gateway regions that get a VPN stack (all of them, when any account is private)."""
    return list(spec.gateway.regions) if private_vpn_accounts(spec) else []


def peer_index(spec: Spec, region: str) -> int:
    """The AWS peer number of gateway region ``region`` (its place in gateway.regions)."""
    try:
        return list(spec.gateway.regions).index(region)
    except ValueError:
        raise ValueError(f"{region} is not a gateway region") from None


def peer_inside_cidrs(spec: Spec, region: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """``[azure instance][tunnel]`` inside /30s of the region's connections."""
    return inside_cidrs(peer_index(spec, region))


def forwarded_domains(account: AzureAccount) -> tuple[str, ...]:
    """The names of ``account`` the AWS side resolves through Azure (see the module doc)."""
    sub = account.subdomain
    return tuple(name for zone in ACCOUNT_ZONES
                 for name in (f"{sub}.{zone}", f"{sub}.privatelink.{zone}"))
