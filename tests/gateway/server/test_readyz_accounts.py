"""/readyz per Azure account: the path (public allow-list or private VPN) from the derived
config, and whether the probe reached one of its endpoints."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.server.ops import azure_reachability
from skyrelay.gateway.testing.harness import (
    OPS_HEADERS,
    ServerThread,
    base_config_dict,
    ops_for_tests,
)
from skyrelay.spec import Spec
from skyrelay.views.gateway_config import gateway_config


def _config(paths: dict[str, str] | None = None, endpoint: str = "http://127.0.0.1:9/v1"
            ) -> GatewayConfig:
    data = base_config_dict(
        {"swc-a": {"cloud": "azure", "account": "acme-swc", "endpoint": endpoint},
         "swc-b": {"cloud": "azure", "account": "acme-swc", "endpoint": endpoint},
         "eus": {"cloud": "azure", "account": "acme-eus", "endpoint": endpoint},
         "br": {"cloud": "bedrock", "endpoint": endpoint}},
        {"chat": {"targets": ["swc-a", "swc-b", "eus", "br"]}})
    if paths is not None:
        data["azure_paths"] = paths
    return GatewayConfig.from_dict(data)


def _breakers(**reachable: bool | None) -> dict[str, Any]:
    return {key: SimpleNamespace(reachable=value) for key, value in reachable.items()}


def test_each_azure_account_has_its_path_and_reachability() -> None:
    config = _config({"acme-swc": "private-vpn"})
    found = azure_reachability(config, _breakers(**{"swc-a": False, "swc-b": True,
                                                    "eus": False, "br": True}))
    assert found == {
        "acme-swc": {"path": "private-vpn", "reachable": True, "targets": ["swc-a", "swc-b"]},
        "acme-eus": {"path": "public-allowlist", "reachable": False, "targets": ["eus"]},
    }  # Bedrock targets are no Azure account


def test_an_account_not_probed_yet_is_unknown_and_none_reached_is_false() -> None:
    config = _config({"acme-swc": "private-vpn"})
    found = azure_reachability(config, _breakers(**{"swc-a": None, "swc-b": None,
                                                    "eus": None}))
    assert found["acme-swc"]["reachable"] is None
    found = azure_reachability(config, _breakers(**{"swc-a": False, "swc-b": False}))
    assert found["acme-swc"]["reachable"] is False


def test_readyz_details_carry_the_accounts() -> None:
    app = build_app(_config({"acme-swc": "private-vpn"}), probe_interval=0,
                    environ={"T1_KEY": "k"}, ops=ops_for_tests())
    server = ServerThread(app).start()
    try:
        body = httpx.get(server.url + "/readyz", headers=OPS_HEADERS, timeout=5).json()
        plain = httpx.get(server.url + "/readyz", timeout=5).json()
    finally:
        server.stop()
    assert body["azure_accounts"]["acme-swc"]["path"] == "private-vpn"
    assert body["azure_accounts"]["acme-eus"]["path"] == "public-allowlist"
    assert set(plain) == {"status"}  # the load balancer learns nothing more


def test_the_derived_config_names_private_vpn_accounts_only(default_spec: Spec) -> None:
    assert "azure_paths" not in gateway_config(default_spec)
    doc = default_spec.model_dump(mode="json", exclude_none=True)
    doc["azure"]["accounts"][0].update(gateway_path="private-vpn",
                                       public_network_access="disabled")
    private = Spec.model_validate(doc)
    name = private.azure.accounts[0].name  # type: ignore[union-attr]
    assert gateway_config(private)["azure_paths"] == {name: "private-vpn"}
