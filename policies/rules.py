"""The rule registry: one entry per platform rule, shared by every enforcer.

Example::

    from skyrelay.policies.rules import RULES
    assert RULES["SKY-AWS-001"].severity == "error"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """One platform rule: id, severity, one-line description, clouds, spec data it reads."""

    id: str
    severity: Severity
    description: str
    clouds: tuple[str, ...]
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    """One rule broken by one resource (``resource`` is a logical id, URN name or path)."""

    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"


# Bedrock actions that accept no resource ARN, so Resource "*" is the only valid form.
BEDROCK_RESOURCELESS_ACTIONS = frozenset({
    "bedrock:GetModelInvocationLoggingConfiguration",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
    "bedrock:ListFoundationModels",
    "bedrock:ListInferenceProfiles",
})

_ALL = (
    Rule("SKY-AWS-001", "error", "no wildcard Bedrock permissions (bedrock:* or Resource '*')",
         ("aws",)),
    Rule("SKY-AWS-002", "error", "Bedrock invoke permissions conditioned on aws:SourceVpce",
         ("aws",)),
    Rule("SKY-AWS-003", "error", "every log group KMS-encrypted with a retention period",
         ("aws",), ("aws.invocation_logging.log_retention_days", "gateway.log_retention_days")),
    Rule("SKY-AWS-004", "error",
         "every bucket KMS-encrypted (SSE-S3 only for ALB access logs), SSL-only, retained",
         ("aws",)),
    Rule("SKY-AWS-005", "error", "SageMaker training jobs network-isolated in a VPC",
         ("aws",), ("fine_tuning.jobs",)),
    Rule("SKY-AWS-006", "error", "AWS stacks only in regions some classification allows",
         ("aws",), ("compliance.classifications", "aws.regions")),
    Rule("SKY-AWS-010", "error",
         "load balancer HTTPS listeners use a TLS 1.2+ policy (checkov CKV_AWS_103)",
         ("aws",), ("gateway.tls",)),
    Rule("SKY-AWS-011", "warning",
         "a load balancer listener speaks plain HTTP (checkov CKV_AWS_2; the spec's "
         "gateway.tls.certificate: plain-http opt-out)", ("aws",), ("gateway.tls",)),
    Rule("SKY-AWS-012", "warning",
         "Bedrock invoke granted outside the VPC endpoint (gateway.cross_region_bedrock: "
         "that traffic leaves the VPC)", ("aws",), ("gateway.cross_region_bedrock",)),
    Rule("SKY-AWS-013", "error",
         "site-to-site VPN connections route with BGP (StaticRoutesOnly false) over both "
         "specified tunnels", ("aws",), ("azure.accounts[].gateway_path",)),
    Rule("SKY-AWS-014", "error",
         "no VPN pre-shared key in a template: only {{resolve:secretsmanager:...}} references",
         ("aws",), ("azure.accounts[].gateway_path",)),
    Rule("SKY-AWS-015", "error",
         "a private-vpn Azure account has a VPN stack with its connections from every gateway "
         "region", ("aws",), ("azure.accounts[].gateway_path", "gateway.regions")),
    Rule("SKY-AZ-001", "error", "Azure OpenAI account local (key) auth disabled", ("azure",)),
    Rule("SKY-AZ-002", "error",
         "Azure OpenAI account not publicly reachable (public access off or default Deny)",
         ("azure",), ("azure.accounts[].public_network_access",)),
    Rule("SKY-AZ-003", "error", "a private endpoint per Azure OpenAI account", ("azure",)),
    Rule("SKY-AZ-004", "error", "a diagnostic setting per Azure OpenAI account", ("azure",)),
    Rule("SKY-AZ-005", "error", "only the models and SKUs the spec declares are deployed",
         ("azure",), ("azure.accounts[].deployments",)),
    Rule("SKY-AZ-006", "error", "Azure accounts only in locations some classification allows",
         ("azure",), ("compliance.classifications", "azure.accounts[].location")),
    Rule("SKY-AZ-007", "warning",
         "content filters at least Azure's default safety policy (harm categories on prompts "
         "and completions at Medium or stricter, prompt shields, protected material)",
         ("azure",), ("azure.content_filters",)),
    Rule("SKY-AZ-008", "warning",
         "Azure accounts are Foundry resources (kind AIServices); kind OpenAI drifts after "
         "Microsoft's upgrade", ("azure",), ("azure.accounts[].kind",)),
    Rule("SKY-AZ-009", "error",
         "a private-vpn account: public network access Disabled and no allow-listed IPs",
         ("azure",), ("azure.accounts[].gateway_path",)),
    Rule("SKY-AZ-010", "error",
         "a private-vpn account has its VPN gateway, with BGP on (and on every connection)",
         ("azure",), ("azure.accounts[].gateway_path",)),
    Rule("SKY-GW-001", "error",
         "every tenant route has a target whose processing regions its classification allows",
         ("gateway",), ("compliance.classifications", "tenants", "routes")),
    Rule("SKY-GW-002", "warning",
         "route targets outside a tenant's classification (the gateway skips them per request)",
         ("gateway",), ("compliance.classifications", "tenants", "routes")),
)

RULES: dict[str, Rule] = {r.id: r for r in _ALL}
