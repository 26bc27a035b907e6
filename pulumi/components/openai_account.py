"""OpenAIAccount: an Azure OpenAI account that is private, keyless and observed.

One component builds, in this order of dependence:

- a resource group (unless an existing one is named);
- the Cognitive Services account of kind ``OpenAI``: custom subdomain, system identity,
  local (key) auth disabled, public network access disabled (or, for
  ``gateway-egress-only``, enabled with default-deny network rules that allow only the
  gateway's egress addresses), outbound access restricted;
- one content-filter (RAI) policy per :class:`ContentFilterPolicy`;
- the model deployments, chained with ``depends_on`` one after another because Azure
  answers 409 to concurrent deployment writes on one account;
- a private endpoint (group ``account``) that waits for the last deployment, with the
  ``privatelink.openai.azure.com`` and ``privatelink.cognitiveservices.azure.com`` zones,
  links and a zone group (:class:`~skyrelay.pulumi.components.private_link.PrivateLink`);
- a Log Analytics workspace and diagnostic setting
  (:class:`~skyrelay.pulumi.components.diagnostics.Diagnostics`);
- a "Cognitive Services OpenAI User" role assignment for the gateway's principal.

Example::

    import pulumi
    from skyrelay.pulumi.components import ModelDeployment, OpenAIAccount, OpenAIAccountArgs

    account = OpenAIAccount("contoso-openai", OpenAIAccountArgs(
        account_name="contoso-openai",
        location="swedencentral",
        deployments=[ModelDeployment(name="gpt-4o", model="gpt-4o", version="2024-11-20",
                                     sku="DataZoneStandard", capacity=50)],
        gateway_principal_id="6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d",
    ))
    pulumi.export("endpoint", account.endpoint)
"""

from __future__ import annotations

import uuid

import pulumi
from pulumi_azure_native import authorization, cognitiveservices, resources

from skyrelay.pulumi.components.args import ContentFilterPolicy, OpenAIAccountArgs
from skyrelay.pulumi.components.diagnostics import Diagnostics, DiagnosticsArgs
from skyrelay.pulumi.components.private_link import OPENAI_DNS_ZONES, PrivateLink, PrivateLinkArgs

#: Built-in role "Cognitive Services OpenAI User": inference calls, no keys, no management.
OPENAI_USER_ROLE_ID = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
#: Harm categories of a content filter; each is filtered on the prompt and the completion.
HARM_CATEGORIES = ("Hate", "Sexual", "Violence", "Selfharm")
#: Namespace for deterministic role-assignment names (Azure wants a GUID; Bicep's guid()).
_ASSIGNMENT_NAMESPACE = uuid.UUID("1b6c3a5e-9f55-4d0e-b1f8-4a3c2d7e6f10")


def role_definition_id(account_id: str, role_id: str = OPENAI_USER_ROLE_ID) -> str:
    """The subscription-scoped role definition id for a role, from any ARM id in it.

    >>> role_definition_id("/subscriptions/abc/resourceGroups/rg/providers/X/accounts/a")
    '/subscriptions/abc/providers/Microsoft.Authorization/roleDefinitions/5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
    """
    parts = account_id.split("/")
    if len(parts) < 3 or parts[1].lower() != "subscriptions":
        raise ValueError(f"{account_id!r} is not an Azure resource id")
    return f"/subscriptions/{parts[2]}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def role_assignment_name(scope: str, principal_id: str, role_id: str = OPENAI_USER_ROLE_ID) -> str:
    """A stable GUID for one (scope, principal, role) triple, so re-runs update in place."""
    return str(uuid.uuid5(_ASSIGNMENT_NAMESPACE, f"{scope.lower()}|{principal_id}|{role_id}"))


def rai_policy_properties(policy: ContentFilterPolicy) -> cognitiveservices.RaiPolicyPropertiesArgs:
    """The RAI policy body for a :class:`ContentFilterPolicy`."""
    filters = [
        cognitiveservices.RaiPolicyContentFilterArgs(
            name=category, source=source, enabled=True, blocking=policy.blocking,
            severity_threshold=policy.severity_threshold)
        for source in ("Prompt", "Completion") for category in HARM_CATEGORIES
    ]
    filters.append(cognitiveservices.RaiPolicyContentFilterArgs(
        name="Jailbreak", source="Prompt", enabled=policy.jailbreak_detection,
        blocking=policy.jailbreak_detection and policy.blocking))
    return cognitiveservices.RaiPolicyPropertiesArgs(
        base_policy_name=policy.base_policy, mode="Default", content_filters=filters)


class OpenAIAccount(pulumi.ComponentResource):
    """An Azure OpenAI account with its deployments, private link, logs and role.

    Attributes: ``resource_group_name``, ``account``, ``rai_policies`` (name -> policy),
    ``deployments`` (in creation order), ``private_link``, ``diagnostics``,
    ``role_assignment`` (None without a principal), and outputs ``endpoint``,
    ``account_id``, ``deployment_names``.
    """

    def __init__(self, name: str, args: OpenAIAccountArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, OpenAIAccountArgs):  # validated args only
            raise TypeError("OpenAIAccount needs an OpenAIAccountArgs")
        super().__init__("skyrelay:azure:OpenAIAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        self.resource_group: resources.ResourceGroup | None = None
        if args.resource_group_name is None:
            self.resource_group = resources.ResourceGroup(
                f"{name}-rg", opts=child, resource_group_name=f"rg-{args.account_name}",
                location=args.location, tags=tags)
            rg_name: pulumi.Input[str] = self.resource_group.name
        else:
            rg_name = args.resource_group_name
        self.resource_group_name = pulumi.Output.from_input(rg_name)

        egress_only = args.public_network_access == "gateway-egress-only"
        self.account = cognitiveservices.Account(
            name, opts=child,
            account_name=args.account_name,
            resource_group_name=rg_name,
            location=args.location,
            kind="OpenAI",
            sku=cognitiveservices.SkuArgs(name="S0"),
            identity=cognitiveservices.IdentityArgs(
                type=cognitiveservices.ResourceIdentityType.SYSTEM_ASSIGNED),
            properties=cognitiveservices.AccountPropertiesArgs(
                custom_sub_domain_name=args.subdomain,
                disable_local_auth=True,
                public_network_access="Enabled" if egress_only else "Disabled",
                network_acls=cognitiveservices.NetworkRuleSetArgs(
                    default_action="Deny",
                    bypass="None",
                    ip_rules=[cognitiveservices.IpRuleArgs(value=ip)
                              for ip in args.gateway_egress_ips],
                ),
                # Inference needs no outbound calls; "on your data" sources must be listed.
                restrict_outbound_network_access=True,
                allowed_fqdn_list=[],
            ),
            tags=tags,
        )
        in_account = pulumi.ResourceOptions(parent=self.account)

        self.rai_policies: dict[str, cognitiveservices.RaiPolicy] = {}
        for policy in args.content_filters:
            self.rai_policies[policy.name] = cognitiveservices.RaiPolicy(
                f"{name}-rai-{policy.name}", opts=in_account,
                rai_policy_name=policy.name,
                account_name=self.account.name,
                resource_group_name=rg_name,
                properties=rai_policy_properties(policy),
                tags=tags,
            )

        self.deployments: list[cognitiveservices.Deployment] = []
        previous: cognitiveservices.Deployment | None = None
        for d in args.deployments:
            rai = self.rai_policies[d.content_filter] if d.content_filter else None
            previous = cognitiveservices.Deployment(
                f"{name}-{d.name}",
                opts=pulumi.ResourceOptions(parent=self.account,
                                            depends_on=[previous] if previous else []),
                deployment_name=d.name,
                account_name=self.account.name,
                resource_group_name=rg_name,
                sku=cognitiveservices.SkuArgs(name=d.sku, capacity=d.capacity),
                properties=cognitiveservices.DeploymentPropertiesArgs(
                    model=cognitiveservices.DeploymentModelArgs(
                        format=d.model_format, name=d.model, version=d.version),
                    rai_policy_name=rai.name if rai else None,
                    version_upgrade_option=d.version_upgrade,
                ),
                tags=tags,
            )
            self.deployments.append(previous)

        self.private_link = PrivateLink(name, PrivateLinkArgs(
            resource_group_name=rg_name,
            location=args.location,
            target_resource_id=self.account.id,
            group_id="account",
            dns_zone_names=OPENAI_DNS_ZONES,
            vnet_cidr=args.vnet_cidr,
            existing_network=args.existing_network,
            endpoint_depends_on=self.deployments[-1:],
            dns_zone_ids=dict(args.private_dns_zone_ids),
            tags=tags,
        ), opts=child)

        self.diagnostics = Diagnostics(name, DiagnosticsArgs(
            resource_group_name=rg_name,
            location=args.location,
            resource_uri=self.account.id,
            log_categories=tuple(args.log_categories),
            retention_days=args.log_retention_days,
            workspace_id=args.log_analytics_workspace_id,
            tags=tags,
        ), opts=child)

        self.role_assignment: authorization.RoleAssignment | None = None
        if args.gateway_principal_id:
            principal = args.gateway_principal_id
            self.role_assignment = authorization.RoleAssignment(
                f"{name}-gateway-openai-user", opts=child,
                role_assignment_name=self.account.id.apply(
                    lambda scope: role_assignment_name(scope, principal)),
                scope=self.account.id,
                role_definition_id=self.account.id.apply(role_definition_id),
                principal_id=principal,
                principal_type=args.gateway_principal_type,
                description="skyrelay gateway: Azure OpenAI inference (keyless)",
            )

        self.account_id: pulumi.Output[str] = self.account.id
        self.endpoint: pulumi.Output[str] = self.account.properties.apply(
            lambda p: p["endpoint"] if p and p.get("endpoint") else args.endpoint)
        self.deployment_names: pulumi.Output[list[str]] = pulumi.Output.all(
            *[dep.name for dep in self.deployments])
        self.register_outputs({
            "accountId": self.account_id,
            "endpoint": self.endpoint,
            "deploymentNames": self.deployment_names,
            "resourceGroupName": self.resource_group_name,
        })
