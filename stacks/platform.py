"""Compose every CDK stack the spec asks for into an app.

Per AWS region: ``<name>-<region>-network``, ``<name>-<region>-bedrock`` (model access and
invocation logging; left out where the region has no models and logging is off, since
CloudFormation refuses a template without resources), ``<name>-<region>-observability``,
where the spec has jobs in the region ``<name>-<region>-fine-tuning``, and in the spec's
gateway regions ``<name>-<region>-gateway`` (see :mod:`skyrelay.stacks.gateway` for its CDK
context keys) and, when an Azure account has ``gateway_path: private-vpn``,
``<name>-<region>-vpn`` (:mod:`skyrelay.stacks.vpn`) - but only once ``skyrelay link`` has
written the Azure side's addresses into the ``skyrelay:link`` folder: before that the stack
is left out (a warning on the network stack says to run the link), never half built.
Each stack gets the spec's region (and account, when given) as its environment, and the
spec's tags plus ``skyrelay:platform``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk

from skyrelay.spec import Spec
from skyrelay.stacks.bedrock import BedrockStack
from skyrelay.stacks.fine_tuning import FineTuningStack
from skyrelay.stacks.gateway import LINK_CONTEXT_KEY, GatewayStack
from skyrelay.stacks.network import NetworkStack
from skyrelay.stacks.observability import ObservabilityStack
from skyrelay.stacks.vpn import VpnSpecError, VpnStack
from skyrelay.views.private_path import private_vpn_accounts, vpn_stack_name

PLATFORM_TAG = "skyrelay:platform"


@dataclass
class RegionStacks:
    """The stacks of one AWS region (what later stacks, such as the gateway's, build on)."""

    network: NetworkStack
    bedrock: BedrockStack | None
    observability: ObservabilityStack
    fine_tuning: FineTuningStack | None
    gateway: GatewayStack | None = None
    vpn: VpnStack | None = None


def add_region_stacks(app: cdk.App, spec: Spec, region: str) -> RegionStacks:
    """Add one region's stacks to ``app``."""
    assert spec.aws is not None
    env = cdk.Environment(account=spec.aws.account, region=region)
    prefix = f"{spec.name}-{region}"

    def tagged(stack: cdk.Stack) -> cdk.Stack:
        for key, value in {**spec.tags, PLATFORM_TAG: spec.name}.items():
            cdk.Tags.of(stack).add(key, value)
        return stack

    network = NetworkStack(app, f"{prefix}-network", spec=spec, region=region, env=env,
                           description=f"skyrelay {spec.name}: private model network in {region}")
    bedrock = None
    if spec.aws.regions[region].bedrock_models or spec.aws.invocation_logging.enabled:
        bedrock = BedrockStack(app, f"{prefix}-bedrock", spec=spec, region=region,
                               network=network.network, env=env, termination_protection=True,
                               description=f"skyrelay {spec.name}: Bedrock access and "
                                           f"invocation logging in {region}")
    observability = ObservabilityStack(app, f"{prefix}-observability", spec=spec, region=region,
                                       env=env, description=f"skyrelay {spec.name}: Bedrock "
                                                            f"dashboard and alarms in {region}")
    fine_tuning = None
    if any(job.region == region for job in spec.fine_tuning.jobs):
        fine_tuning = FineTuningStack(app, f"{prefix}-fine-tuning", spec=spec, region=region,
                                      network=network.network, env=env,
                                      termination_protection=True,
                                      description=f"skyrelay {spec.name}: fine-tuning "
                                                  f"pipelines in {region}")
    gateway = None
    if region in spec.gateway.regions:
        link = app.node.try_get_context(LINK_CONTEXT_KEY)
        gateway = GatewayStack(
            app, f"{prefix}-gateway", spec=spec, region=region, network=network.network,
            model_access=bedrock.model_access if bedrock else None,
            observability=observability.observability,
            link_dir=Path(link) if link else None,
            guardrails=bedrock.guardrails if bedrock else None,
            env=env, termination_protection=True,
            description=f"skyrelay {spec.name}: model gateway service in {region}")
    vpn = _vpn_stack(app, spec, region, network, observability, env)
    for stack in (network, bedrock, observability, fine_tuning, gateway, vpn):
        if stack is not None:
            tagged(stack)
    return RegionStacks(network, bedrock, observability, fine_tuning, gateway, vpn)


#: The warning a network stack carries while its VPN waits for the first link.
VPN_WAITS_FOR_LINK = (
    "{stack} is not synthesized: the private VPN to Azure account(s) {accounts} needs the "
    "Azure gateway's addresses first. Run `pulumi up`, then `skyrelay link` (step 2), then "
    "`cdk deploy -c skyrelay:link=<folder>` (step 3)")


def _vpn_stack(app: cdk.App, spec: Spec, region: str, network: NetworkStack,
               observability: ObservabilityStack, env: cdk.Environment) -> VpnStack | None:
    accounts = private_vpn_accounts(spec)
    if not accounts or region not in spec.gateway.regions:
        return None
    if len(accounts) > 1:
        # One virtual private gateway per VPC: a second account needs a Transit Gateway
        # per account in SiteToSiteVpn, which the stacks do not wire yet.
        raise VpnSpecError(f"gateway_path: private-vpn on {len(accounts)} accounts "
                           f"({', '.join(a.name for a in accounts)}): this version builds the "
                           "VPN to one account per platform")
    from skyrelay.link_vpn import load_vpn_values

    link = app.node.try_get_context(LINK_CONTEXT_KEY)
    values = load_vpn_values(Path(link) if link else None, spec)
    name = vpn_stack_name(spec.name, region)
    if values is None:
        cdk.Annotations.of(network).add_warning_v2(
            "skyrelay:vpn-waits-for-link",
            VPN_WAITS_FOR_LINK.format(stack=name, accounts=", ".join(a.name for a in accounts)))
        return None
    account = accounts[0]
    stack = VpnStack(app, name, spec=spec, region=region, network=network.network,
                     account=account, values=values[account.name],
                     alarm_topic=observability.observability.topic, env=env,
                     termination_protection=True,
                     description=f"skyrelay {spec.name}: private VPN from {region} to Azure "
                                 f"account {account.name}")
    return stack


def add_platform_stacks(app: cdk.App, spec: Spec) -> list[cdk.Stack]:
    """Add the spec's stacks to ``app`` and return them."""
    if spec.aws is None:
        return []
    stacks: list[cdk.Stack] = []
    for region in spec.aws.regions:
        made = add_region_stacks(app, spec, region)
        stacks.extend(s for s in (made.network, made.bedrock, made.observability,
                                  made.fine_tuning, made.gateway, made.vpn) if s is not None)
    return stacks
