"""Checks of ``gateway_path: private-vpn`` accounts (the site-to-site VPN between the clouds).

The path's building blocks exist (``constructs/site_to_site_vpn.py``,
``pulumi/components/site_vpn.py``, ``skyrelay/vpn_link.py``), but the stacks, the Pulumi
program and ``skyrelay link`` do not build it from the spec yet. Until they do, a spec asking
for it is refused: accepting it would deploy an account the gateways reach over the public
endpoint (or not at all) while the spec says the traffic stays private.

Example::

    for path, message in check_private_vpn(spec):
        print(".".join(map(str, path)), message)
"""

from __future__ import annotations

from collections.abc import Iterator

from skyrelay.spec.models import Spec

Problem = tuple[tuple[str | int, ...], str]

#: What a private-vpn account's public endpoint must be: the path is private only if the
#: public endpoint answers no one.
PRIVATE_VPN_ACCESS = "disabled"


def check_private_vpn(spec: Spec) -> Iterator[Problem]:
    """Every private-vpn account: public access disabled, and the not-yet-built refusal."""
    if not spec.azure:
        return
    for i, acct in enumerate(spec.azure.accounts):
        if acct.gateway_path != "private-vpn":
            continue
        at: tuple[str | int, ...] = ("azure", "accounts", i)
        if acct.public_network_access != PRIVATE_VPN_ACCESS:
            yield ((*at, "public_network_access"),
                   f"account {acct.name!r} has gateway_path: private-vpn, so its public "
                   f"endpoint must be off: set public_network_access: {PRIVATE_VPN_ACCESS} "
                   f"(now '{acct.public_network_access}', which would let prompts reach it "
                   "over the internet)")
        yield ((*at, "gateway_path"),
               f"account {acct.name!r}: gateway_path: private-vpn is not built by this "
               "version of skyrelay yet (the stacks, the Pulumi program and `skyrelay link` "
               "do not wire the VPN from the spec); use gateway_path: public-allowlist with "
               "public_network_access: gateway-egress-only")
