"""Bad values fail with a clear error before any resource is registered."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyrelay.pulumi.azure_mocks import AzureMocks
from skyrelay.pulumi.components import (
    AzureArgsError,
    ContentFilterPolicy,
    ModelDeployment,
    OpenAIAccountArgs,
)
from skyrelay.pulumi.offline import RecordingMonitor, run_offline
from skyrelay.pulumi.program import InvalidSpecError, ProgramError
from skyrelay.pulumi.type_tokens import STACK

ROOT = Path(__file__).resolve().parents[2]
WriteSpec = Callable[[Callable[[dict[str, Any]], None]], Path]


def _fails_before_any_resource(spec: Path, error: type[Exception] = ProgramError,
                               config: dict[str, Any] | None = None) -> str:
    monitor = RecordingMonitor(AzureMocks())
    with pytest.raises(error) as info:
        run_offline(spec, config, monitor=monitor)
    assert [r["type"] for r in monitor.records.values() if r["type"] != STACK] == []
    return str(info.value)


def _deployment(d: dict[str, Any], **changes: Any) -> None:
    d["azure"]["accounts"][0]["deployments"][0].update(changes)


def _eu_only(d: dict[str, Any]) -> None:
    """Only an EU classification, and only the EU tenant (whose routes stay servable)."""
    d["compliance"]["classifications"] = {"eu-personal": {"allowed": ["eu"]}}
    d["tenants"] = [t for t in d["tenants"] if t["name"] == "eu-support"]
    d["tenants"][0]["routes"] = ["chat-eu", "claude-sonnet"]


# --- through the program (spec + config) -----------------------------------------------

def test_unknown_sku_in_the_spec(write_spec: WriteSpec) -> None:
    spec = write_spec(lambda d: _deployment(d, sku="SuperStandard"))
    message = _fails_before_any_resource(spec, InvalidSpecError)
    assert "azure.accounts[0].deployments[0].sku" in message
    assert "'Standard', 'GlobalStandard', 'DataZoneStandard' or 'ProvisionedManaged'" in message


def test_capacity_zero_in_the_spec(write_spec: WriteSpec) -> None:
    spec = write_spec(lambda d: _deployment(d, capacity=0))
    message = _fails_before_any_resource(spec, InvalidSpecError)
    assert "azure.accounts[0].deployments[0].capacity" in message
    assert "greater than or equal to 1" in message


def test_location_the_compliance_rules_forbid(write_spec: WriteSpec) -> None:
    def us_account(d: dict[str, Any]) -> None:
        _eu_only(d)
        d["azure"]["accounts"][0]["location"] = "eastus"

    message = _fails_before_any_resource(write_spec(us_account))
    assert ("azure.accounts[0].location: eastus (us) is outside every region the compliance "
            "classifications allow (eu-personal: eu)") in message


def test_deployment_no_classification_may_use(write_spec: WriteSpec) -> None:
    message = _fails_before_any_resource(write_spec(_eu_only))
    # gpt-4o-mini is GlobalStandard: it may process anywhere, which EU-only rules forbid
    # (validation refuses it, so the program stops at the spec).
    assert ("azure.accounts[0].deployments[1].sku: a GlobalStandard deployment (gpt-4o-mini) "
            "processes data in any region, which no compliance classification allows") in message
    assert "deployments[0]" not in message  # DataZoneStandard in Sweden stays in the EU


def test_egress_only_account_without_egress_addresses(write_spec: WriteSpec) -> None:
    spec = write_spec(lambda d: d["azure"]["accounts"][0].update(
        public_network_access="gateway-egress-only"))
    message = _fails_before_any_resource(spec, config={"gatewayEgressIps": []})
    assert "'gateway-egress-only' but config skyrelay:gatewayEgressIps is empty" in message
    private = _fails_before_any_resource(spec, config={"gatewayEgressIps": ["10.1.2.3"]})
    assert "'10.1.2.3' is not a public address" in private


def test_missing_gateway_principal(tmp_path: Path) -> None:
    message = _fails_before_any_resource(ROOT / "examples" / "platform.yaml",
                                         config={"gatewayPrincipalId": None})
    assert "config skyrelay:gatewayPrincipalId is not set" in message


def test_plan_cli_reports_the_residency_error(write_spec: WriteSpec) -> None:
    def us_account(d: dict[str, Any]) -> None:
        _eu_only(d)
        d["azure"]["accounts"][0]["location"] = "eastus"

    spec = write_spec(us_account)
    res = subprocess.run([sys.executable, "-m", "skyrelay.cli", "plan", str(spec)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2  # `skyrelay validate` refuses it before the program runs
    assert "azure.accounts[0].location: eastus (us) is outside every region" in res.stderr
    assert "Traceback" not in res.stderr


# --- the component args on their own ----------------------------------------------------

def _args(**changes: Any) -> OpenAIAccountArgs:
    base: dict[str, Any] = dict(
        account_name="contoso", location="swedencentral",
        deployments=[ModelDeployment(name="d", model="gpt-4o", version="2024-11-20",
                                     sku="DataZoneStandard", capacity=5)])
    base.update(changes)
    return OpenAIAccountArgs(**base)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: ModelDeployment(name="d", model="m", version="1", sku="Premium", capacity=1),
     "deployment 'd': sku: 'Premium' is not one of Standard, GlobalStandard"),
    (lambda: ModelDeployment(name="d", model="m", version="1", sku="Standard", capacity=0),
     "deployment 'd': capacity: 0 is below 1"),
    (lambda: ModelDeployment(name="d", model="m", version="1", sku="Standard", capacity=2.5),
     "deployment 'd': capacity: 2.5 is not a whole number"),
    (lambda: _args(location="eastus", allowed_locations={"swedencentral", "westeurope"}),
     "account 'contoso': location: 'eastus' is not allowed by the data residency rules "
     "(allowed Azure regions: swedencentral, westeurope)"),
    (lambda: _args(location="uksouth"),
     "DataZoneStandard needs an account in a data zone (US or EU); uksouth is not in one"),
    (lambda: _args(location="mars-north"), "'mars-north' is not an Azure region"),
    (lambda: _args(public_network_access="gateway-egress-only",
                   gateway_egress_ips=["192.168.1.1"]), "'192.168.1.1' is not a public address"),
    (lambda: _args(gateway_egress_ips=["198.51.100.1"]),
     "egress addresses only apply with public_network_access='gateway-egress-only'"),
    (lambda: _args(deployments=[ModelDeployment(name="d", model="m", version="1",
                                                sku="Standard", capacity=1,
                                                content_filter="strict")]),
     "content_filter: 'strict' is not among the account's content filters (none)"),
    (lambda: ContentFilterPolicy(name="x", severity_threshold="Extreme"),
     "severity_threshold: 'Extreme' is not one of Low, Medium, High"),
    (lambda: _args(vnet_cidr="8.8.8.0/24"), "must be a private IPv4 range"),
    (lambda: _args(gateway_principal_id="gateway"), "is not an Entra object id"),
    (lambda: _args(log_retention_days=7), "7 is outside Log Analytics' 30-730 days"),
    (lambda: _args(deployments=[]), "an account needs at least one deployment"),
])
def test_component_args_reject(make: Callable[[], object], expected: str) -> None:
    with pytest.raises(AzureArgsError) as info:
        make()
    assert expected in str(info.value)
