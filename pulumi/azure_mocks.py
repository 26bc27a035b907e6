"""Pulumi mocks that answer like Azure Resource Manager, for tests and the offline plan.

``new_resource`` returns what the azure-native provider would after a create: the inputs,
plus ``name`` (the Azure name from the ``*Name`` input, or an auto-name), an ARM ``id`` in
Azure's format, and the provider-computed fields the program reads (the account's
``properties.endpoint`` and identity ``principalId``, the workspace ``customerId``). So
``account.name``, ``account.id`` and ``rai.name`` resolve as in a real run.

Example::

    import pulumi
    from skyrelay.pulumi.azure_mocks import AzureMocks
    pulumi.runtime.set_mocks(AzureMocks(), project="skyrelay", stack="test", preview=False)
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pulumi

#: Subscription used in ids when the spec names none (the all-zero GUID, clearly fake).
MOCK_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT = "00000000-0000-0000-0000-0000000000aa"

Inputs = dict[str, Any]


def _suffix(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:8]


def _guid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"skyrelay-mock:{seed}"))


class AzureMocks(pulumi.runtime.Mocks):
    """Mocks with ARM-shaped ids and names; see the module docstring."""

    def __init__(self, subscription_id: str | None = None) -> None:
        self.subscription_id = subscription_id or MOCK_SUBSCRIPTION

    # --- ids ------------------------------------------------------------------------
    def _rg(self, inputs: Inputs) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/" \
               f"{inputs.get('resourceGroupName', 'rg-unknown')}"

    def _in_rg(self, provider_path: str) -> Callable[[Inputs, str], str]:
        def make(inputs: Inputs, name: str) -> str:
            path = provider_path.format_map({**inputs, "name": name})
            return f"{self._rg(inputs)}/providers/{path}"
        return make

    def _id_for(self, typ: str, inputs: Inputs, name: str) -> str:
        sub = f"/subscriptions/{self.subscription_id}"
        makers: dict[str, Callable[[Inputs, str], str]] = {
            "azure-native:resources:ResourceGroup": lambda i, n: f"{sub}/resourceGroups/{n}",
            "azure-native:cognitiveservices:Account":
                self._in_rg("Microsoft.CognitiveServices/accounts/{name}"),
            "azure-native:cognitiveservices:Deployment":
                self._in_rg("Microsoft.CognitiveServices/accounts/{accountName}/deployments/{name}"),
            "azure-native:cognitiveservices:RaiPolicy":
                self._in_rg("Microsoft.CognitiveServices/accounts/{accountName}/raiPolicies/{name}"),
            "azure-native:network:VirtualNetwork":
                self._in_rg("Microsoft.Network/virtualNetworks/{name}"),
            "azure-native:network:Subnet":
                self._in_rg("Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{name}"),
            "azure-native:network:PrivateEndpoint":
                self._in_rg("Microsoft.Network/privateEndpoints/{name}"),
            "azure-native:network:PrivateDnsZoneGroup": self._in_rg(
                "Microsoft.Network/privateEndpoints/{privateEndpointName}"
                "/privateDnsZoneGroups/{name}"),
            "azure-native:privatedns:PrivateZone":
                self._in_rg("Microsoft.Network/privateDnsZones/{name}"),
            "azure-native:privatedns:VirtualNetworkLink": self._in_rg(
                "Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks/{name}"),
            "azure-native:operationalinsights:Workspace":
                self._in_rg("Microsoft.OperationalInsights/workspaces/{name}"),
            "azure-native:network:PublicIPAddress":
                self._in_rg("Microsoft.Network/publicIPAddresses/{name}"),
            "azure-native:network:VirtualNetworkGateway":
                self._in_rg("Microsoft.Network/virtualNetworkGateways/{name}"),
            "azure-native:network:LocalNetworkGateway":
                self._in_rg("Microsoft.Network/localNetworkGateways/{name}"),
            "azure-native:network:VirtualNetworkGatewayConnection":
                self._in_rg("Microsoft.Network/connections/{name}"),
            "azure-native:dnsresolver:DnsResolver":
                self._in_rg("Microsoft.Network/dnsResolvers/{name}"),
            "azure-native:dnsresolver:InboundEndpoint": self._in_rg(
                "Microsoft.Network/dnsResolvers/{dnsResolverName}/inboundEndpoints/{name}"),
            "azure-native:monitor:DiagnosticSetting": lambda i, n:
                f"{i.get('resourceUri', '')}/providers/Microsoft.Insights/diagnosticSettings/{n}",
            "azure-native:authorization:RoleAssignment": lambda i, n:
                f"{i.get('scope', sub)}/providers/Microsoft.Authorization/roleAssignments/{n}",
        }
        maker = makers.get(typ)
        if maker is None:
            return f"{sub}/providers/{typ.replace(':', '.')}/{name}"
        return maker(inputs, name)

    # --- names ----------------------------------------------------------------------
    @staticmethod
    def _azure_name(typ: str, logical: str, inputs: Inputs) -> str:
        kind = typ.rsplit(":", 1)[-1]
        keys = [f"{kind[0].lower()}{kind[1:]}Name", "name"]
        aliases = {"Account": "accountName", "PrivateZone": "privateZoneName",
                   "PrivateDnsZoneGroup": "privateDnsZoneGroupName",
                   "PublicIPAddress": "publicIpAddressName"}
        if kind in aliases:
            keys.insert(0, aliases[kind])
        for key in keys:
            value = inputs.get(key)
            if isinstance(value, str) and value:
                return value
        # azure-native auto-names: the logical name plus a random suffix (stable here).
        return f"{logical}{_suffix(logical)}"

    # --- Mocks API ------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        """Return an ARM id and the outputs azure-native would report after a create."""
        inputs = dict(args.inputs)
        if not args.custom:  # component resources have no id and no provider state
            return "", inputs
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", inputs
        name = self._azure_name(args.typ, args.name, inputs)
        arm_id = self._id_for(args.typ, inputs, name)
        outputs: dict[str, Any] = {**inputs, "name": name, "id": arm_id}
        if args.typ == "azure-native:cognitiveservices:Account":
            props = dict(inputs.get("properties") or {})
            sub = props.get("customSubDomainName") or name
            # What ARM reports: a Foundry (AIServices) account's main endpoint is the
            # Cognitive Services one, with the OpenAI and Foundry ones under `endpoints`.
            endpoints = {"OpenAI Language Model Instance API": f"https://{sub}.openai.azure.com/"}
            if inputs.get("kind") == "AIServices":
                props.setdefault("endpoint", f"https://{sub}.cognitiveservices.azure.com/")
                endpoints["AI Foundry API"] = f"https://{sub}.services.ai.azure.com/"
            else:
                props.setdefault("endpoint", f"https://{sub}.openai.azure.com/")
            props.setdefault("endpoints", endpoints)
            props.setdefault("provisioningState", "Succeeded")
            outputs["properties"] = props
            if (inputs.get("identity") or {}).get("type", "").startswith("SystemAssigned"):
                outputs["identity"] = {**inputs["identity"], "principalId": _guid(arm_id),
                                       "tenantId": MOCK_TENANT}
        elif args.typ == "azure-native:operationalinsights:Workspace":
            outputs["customerId"] = _guid(arm_id)
        elif args.typ == "azure-native:network:PublicIPAddress":
            # A stable public address per resource (20.0.0.0/8 is one of Azure's blocks).
            digest = hashlib.sha256(arm_id.encode()).digest()
            outputs["ipAddress"] = f"20.{digest[0]}.{digest[1]}.{digest[2] % 254 + 1}"
        return arm_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        """Answer provider functions; only ``getClientConfig`` is meaningful here."""
        if args.token == "azure-native:authorization:getClientConfig":
            return {"subscriptionId": self.subscription_id, "tenantId": MOCK_TENANT,
                    "clientId": _guid("client"), "objectId": _guid("object")}, None
        return {}, None
