"""Type tokens of the resources the Azure program creates (as the engine and CrossGuard see them).

Example::

    from skyrelay.pulumi.type_tokens import ACCOUNT
    accounts = graph.of_type(ACCOUNT)
"""

RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
ACCOUNT = "azure-native:cognitiveservices:Account"
DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
RAI_POLICY = "azure-native:cognitiveservices:RaiPolicy"
VIRTUAL_NETWORK = "azure-native:network:VirtualNetwork"
SUBNET = "azure-native:network:Subnet"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
DNS_ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"
WORKSPACE = "azure-native:operationalinsights:Workspace"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
VPN_GATEWAY = "azure-native:network:VirtualNetworkGateway"
LOCAL_GATEWAY = "azure-native:network:LocalNetworkGateway"
VPN_CONNECTION = "azure-native:network:VirtualNetworkGatewayConnection"
DNS_RESOLVER = "azure-native:dnsresolver:DnsResolver"
DNS_INBOUND_ENDPOINT = "azure-native:dnsresolver:InboundEndpoint"

OPENAI_ACCOUNT_COMPONENT = "skyrelay:azure:OpenAIAccount"
PRIVATE_LINK_COMPONENT = "skyrelay:azure:PrivateLink"
DIAGNOSTICS_COMPONENT = "skyrelay:azure:Diagnostics"
SITE_VPN_COMPONENT = "skyrelay:azure:SiteVpn"
STACK = "pulumi:pulumi:Stack"
