"""OpenAIAccount: an Azure OpenAI (Foundry) account that is reachable, keyless and observed.

One component builds, in this order of dependence:

- a resource group (unless an existing one is named);
- the Cognitive Services account, by default of kind ``AIServices`` (a Foundry resource:
  Azure OpenAI plus the Foundry endpoint, project management allowed) or, for an existing
  classic account, ``OpenAI``: custom subdomain, system identity, local (key) auth disabled,
  public network access disabled (or, for ``gateway-egress-only``, enabled with
  default-deny network rules that allow only the gateway's egress addresses), outbound
  access restricted;
- one content-filter (RAI) policy per :class:`ContentFilterPolicy`;
- the model deployments, chained with ``depends_on`` one after another because Azure
  answers 409 to concurrent deployment writes on one account;
- a private endpoint (group ``account``) that waits for the last deployment, with the
  ``privatelink.cognitiveservices.azure.com``, ``privatelink.openai.azure.com`` and
  ``privatelink.services.ai.azure.com`` zones, links and a zone group
  (:class:`~skyrelay.pulumi.components.private_link.PrivateLink`);
- a Log Analytics workspace and diagnostic setting
  (:class:`~skyrelay.pulumi.components.diagnostics.Diagnostics`);
- a "Cognitive Services OpenAI User" role assignment for the gateway's principal.

Example::

    import pulumi
    from skyrelay.pulumi.components import ModelDeployment, OpenAIAccount, OpenAIAccountArgs

    account = OpenAIAccount("contoso-openai", OpenAIAccountArgs(
        account_name="contoso-openai",
        location=group.location,
        deployments=[ModelDeployment(name="chat", model="gpt-5", version="2025-08-07",
                                     sku="DataZoneStandard", capacity=50)],
        gateway_principal_id="6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d",
    ))
    account.grant(ops_group.object_id, "Cognitive Services User", name="ops",
                  principal_type="Group")
    pulumi.export("endpoint", account.openai_endpoint)
    pulumi.export("identity", account.principal_id)
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_azure_native import authorization, cognitiveservices, resources

from skyrelay.pulumi.components.args import PRINCIPAL_TYPES, OpenAIAccountArgs
from skyrelay.pulumi.components.content_filter import rai_policy_properties
from skyrelay.pulumi.components.diagnostics import Diagnostics, DiagnosticsArgs
from skyrelay.pulumi.components.private_link import ACCOUNT_DNS_ZONES, PrivateLink, PrivateLinkArgs
from skyrelay.pulumi.components.validation import (
    check_guid,
    check_input,
    fail,
    is_known,
    one_of,
)

#: Built-in roles a principal can be granted on an account, by name
#: (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/ai-machine-learning).
ROLES: Mapping[str, str] = {
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "Cognitive Services OpenAI Contributor": "a001fd3d-188f-4b5d-821b-7da978bf7442",
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
    "Azure AI User": "53ca6127-db72-4b80-b1b0-d745d6d5456d",
}
#: Built-in role "Cognitive Services OpenAI User": inference calls, no keys, no management.
OPENAI_USER_ROLE_ID = ROLES["Cognitive Services OpenAI User"]
#: Namespace for deterministic role-assignment names (Azure wants a GUID; Bicep's guid()).
_ASSIGNMENT_NAMESPACE = uuid.UUID("1b6c3a5e-9f55-4d0e-b1f8-4a3c2d7e6f10")
#: Key of the Azure OpenAI data-plane endpoint in ``properties.endpoints``.
OPENAI_ENDPOINT_KEY = "OpenAI Language Model Instance API"


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


def role_id(role: str) -> str:
    """The role definition GUID for a built-in role name or a GUID (refused otherwise)."""
    if role in ROLES:
        return ROLES[role]
    try:
        return str(uuid.UUID(role))
    except (ValueError, AttributeError, TypeError):
        raise fail("grant: role", f"{role!r} is neither a role definition GUID nor one of "
                   + ", ".join(ROLES)) from None


def _get(value: Any, key: str) -> Any:
    """``value[key]`` for the dicts mocks resolve to, else the attribute of an output type."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(key)
    return getattr(value, key, None)


class OpenAIAccount(pulumi.ComponentResource):
    """An Azure OpenAI (Foundry) account with deployments, private link, logs and roles.

    Every child's Pulumi name and Azure name derive from ``args.account_name``, so the
    component's own ``name`` may change without replacing anything. Attributes:
    ``resource_group_name``, ``account``, ``rai_policies`` (name -> policy), ``deployments``
    (in creation order), ``private_link``, ``diagnostics``, ``role_assignments`` (the
    gateway's, then each :meth:`grant`'s). Outputs: ``account_id``, ``openai_endpoint``
    (alias ``endpoint``), ``foundry_endpoint`` (None for kind ``OpenAI``), ``principal_id``
    (the system identity), ``virtual_network_id``, ``subnet_id``, ``deployment_names``.
    """

    def __init__(self, name: str, args: OpenAIAccountArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, OpenAIAccountArgs):  # validated args only
            raise TypeError("OpenAIAccount needs an OpenAIAccountArgs")
        super().__init__("skyrelay:azure:OpenAIAccount", name, None, opts)
        base = args.account_name
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        self.resource_group: resources.ResourceGroup | None = None
        if args.resource_group_name is None:
            self.resource_group = resources.ResourceGroup(
                f"{base}-rg", opts=child, resource_group_name=f"rg-{base}",
                location=args.location, tags=tags)
            rg_name: pulumi.Input[str] = self.resource_group.name
        else:
            rg_name = args.resource_group_name
        self.resource_group_name = pulumi.Output.from_input(rg_name)

        ips = args.gateway_egress_ips  # checked by the args (in apply when an Output)
        self.account = cognitiveservices.Account(
            base, opts=child,
            account_name=base,
            resource_group_name=rg_name,
            location=args.location,
            kind=args.kind,
            sku=cognitiveservices.SkuArgs(name="S0"),
            identity=cognitiveservices.IdentityArgs(
                type=cognitiveservices.ResourceIdentityType.SYSTEM_ASSIGNED),
            properties=cognitiveservices.AccountPropertiesArgs(
                custom_sub_domain_name=args.subdomain,
                disable_local_auth=True,
                # A Foundry resource hosts projects; Microsoft's upgrade of an OpenAI account
                # turns this on too, so leaving it out would show as drift afterwards.
                allow_project_management=True if args.kind == "AIServices" else None,
                public_network_access="Enabled" if args.egress_only else "Disabled",
                network_acls=cognitiveservices.NetworkRuleSetArgs(
                    default_action="Deny",
                    bypass="None",
                    ip_rules=[cognitiveservices.IpRuleArgs(value=ip) for ip in ips]
                    if is_known(ips) else pulumi.Output.from_input(ips).apply(
                        lambda resolved: [{"value": ip} for ip in resolved]),
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
                f"{base}-rai-{policy.name}", opts=in_account,
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
                f"{base}-{d.name}",
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

        self.private_link = PrivateLink(base, PrivateLinkArgs(
            resource_group_name=rg_name,
            location=args.location,
            target_resource_id=self.account.id,
            group_id="account",
            dns_zone_names=ACCOUNT_DNS_ZONES,
            vnet_cidr=args.vnet_cidr,
            subnet_cidr=args.endpoint_subnet_cidr,
            existing_network=args.existing_network,
            endpoint_depends_on=self.deployments[-1:],
            dns_zone_ids=dict(args.private_dns_zone_ids),
            tags=tags,
        ), opts=child)

        self.diagnostics = Diagnostics(base, DiagnosticsArgs(
            resource_group_name=rg_name,
            location=args.location,
            resource_uri=self.account.id,
            log_categories=tuple(args.log_categories),
            retention_days=args.log_retention_days,
            workspace_id=args.log_analytics_workspace_id,
            tags=tags,
        ), opts=child)

        self._base = base
        self.role_assignments: list[authorization.RoleAssignment] = []
        self.role_assignment: authorization.RoleAssignment | None = None
        if args.gateway_principal_id is not None:
            self.role_assignment = self._assign(
                f"{base}-gateway-openai-user", args.gateway_principal_id, OPENAI_USER_ROLE_ID,
                args.gateway_principal_type, "skyrelay gateway: Azure OpenAI inference (keyless)")

        self.account_id: pulumi.Output[str] = self.account.id
        self.openai_endpoint: pulumi.Output[str] = self.account.properties.apply(
            lambda p: _get(_get(p, "endpoints"), OPENAI_ENDPOINT_KEY) or args.openai_endpoint)
        self.endpoint = self.openai_endpoint
        self.foundry_endpoint: pulumi.Output[str | None] = pulumi.Output.from_input(
            args.foundry_endpoint)
        self.principal_id: pulumi.Output[str] = self.account.identity.apply(
            lambda i: _get(i, "principal_id"))
        self.virtual_network_id = self.private_link.virtual_network_id
        self.subnet_id = self.private_link.subnet_id
        self.deployment_names: pulumi.Output[list[str]] = pulumi.Output.all(
            *[dep.name for dep in self.deployments])
        self.register_outputs({
            "accountId": self.account_id,
            "endpoint": self.openai_endpoint,
            "foundryEndpoint": self.foundry_endpoint,
            "principalId": self.principal_id,
            "virtualNetworkId": self.virtual_network_id,
            "subnetId": self.subnet_id,
            "deploymentNames": self.deployment_names,
            "resourceGroupName": self.resource_group_name,
        })

    def grant(self, principal_id: pulumi.Input[str], role: str = "Cognitive Services OpenAI User",
              *, principal_type: str = "ServicePrincipal", name: str | None = None,
              ) -> authorization.RoleAssignment:
        """Give ``principal_id`` (an Entra object id, or an Output of one) ``role`` on the account.

        ``role`` is a built-in role name from :data:`ROLES` or a role definition GUID.
        ``name`` labels the Pulumi resource; it is needed when the principal is an Output
        (a plain id labels it by itself).

        Example::

            account.grant(app.object_id, "Azure AI User", name="agents")
        """
        where = f"account {self._base!r}: grant"
        one_of(f"{where}: principal_type", principal_type, PRINCIPAL_TYPES)
        definition = role_id(role)
        if name is None:
            if not is_known(principal_id):
                raise fail(where, "the principal is an Output: give name=... for the Pulumi "
                           "resource (it must be known before the principal is)")
            check_guid(f"{where}: principal_id", principal_id)
            name = hashlib.sha256(f"{principal_id}|{definition}".encode()).hexdigest()[:8]
        checked = check_input(principal_id, lambda v: check_guid(f"{where}: principal_id", v))
        return self._assign(f"{self._base}-grant-{name}", checked, definition, principal_type,
                            f"skyrelay: {role}")

    def _assign(self, resource_name: str, principal: pulumi.Input[str], definition: str,
                principal_type: str, description: str) -> authorization.RoleAssignment:
        assignment = authorization.RoleAssignment(
            resource_name, opts=pulumi.ResourceOptions(parent=self),
            role_assignment_name=pulumi.Output.all(self.account.id, principal).apply(
                lambda v: role_assignment_name(v[0], v[1], definition)),
            scope=self.account.id,
            role_definition_id=self.account.id.apply(lambda a: role_definition_id(a, definition)),
            principal_id=principal,
            principal_type=principal_type,
            description=description,
        )
        self.role_assignments.append(assignment)
        return assignment
