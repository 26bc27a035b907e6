"""The shipped specs against the catalog: the old default spec's faults are reported with
their lines; the current default and minimal specs validate clean; the CLI says the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from skyrelay.catalog import load_catalog
from skyrelay.cli import main
from skyrelay.spec import SpecError, SpecIssue, load_spec
from skyrelay.views.gateway_config import gateway_config

ROOT = Path(__file__).resolve().parents[3]
OLD_DEFAULT = Path(__file__).parent / "fixtures" / "platform-2026-11.yaml"
AS_OF = load_catalog().as_of

NOVA = ("amazon.nova-pro-v1:0 is offered in eu-central-1 only through a cross-region inference "
        "profile: calls fail with \"on-demand throughput isn't supported\"; use model_id: "
        "eu.amazon.nova-pro-v1:0")
GPT4O = ("gpt-4o 2024-11-20 was retired on 2026-10-01: deployments of a retired version return "
         "errors (replacement: gpt-5.1)")
GPT4O_MINI = ("gpt-4o-mini 2024-07-18 was retired on 2026-10-01: deployments of a retired "
              "version return errors (replacement: gpt-4.1-mini)")

UNREACHABLE = ("account 'acme-openai-swc' cannot be reached from any gateway region (us-east-1, "
               "eu-central-1): 'disabled' leaves only its private endpoint, in an Azure virtual "
               "network no gateway VPC has a path to, so every call would get 403; set "
               "public_network_access: gateway-egress-only (public endpoint, default deny, only "
               "the gateways' NAT addresses allowed), or gateway_path: private-vpn (a "
               "site-to-site VPN to the private endpoint)")

def test_old_default_spec_reports_nova_pro_and_the_azure_versions() -> None:
    warnings: list[SpecIssue] = []
    with pytest.raises(SpecError) as info:
        load_spec(OLD_DEFAULT, warnings=warnings, today=AS_OF)
    found = {(i.line, i.dotted, i.message) for i in info.value.issues}
    assert found == {
        (36, "aws.regions.eu-central-1.bedrock_models[1].model_id", NOVA),
        (66, "azure.accounts[0].deployments[0].version", GPT4O),
        (73, "azure.accounts[0].deployments[1].version", GPT4O_MINI),
        # Not a catalog fact: a private-only account no gateway region can reach (issue 21).
        (62, "azure.accounts[0].public_network_access", UNREACHABLE),
    }
    lines = OLD_DEFAULT.read_text().splitlines()
    assert "amazon.nova-pro-v1:0" in lines[35] and "2024-11-20" in lines[65]
    assert "2024-07-18" in lines[72]
    # gpt-oss: a model the catalog knows, in a region it cannot vouch for: a warning only.
    assert [(w.line, w.dotted) for w in warnings] == [
        (22, "aws.regions.us-east-1.bedrock_models[1].model_id")]
    assert "skyrelay catalog refresh" in warnings[0].message


def test_old_spec_before_the_retirements_warns_instead() -> None:
    import datetime as dt

    warnings: list[SpecIssue] = []
    with pytest.raises(SpecError) as info:  # nova-pro in eu-central-1 never worked
        load_spec(OLD_DEFAULT, warnings=warnings, today=dt.date(2026, 1, 15))
    assert sorted(i.line for i in info.value.issues) == [36, 62]  # 62: unreachable account
    messages = {(w.line, w.message) for w in warnings}
    assert (66, "gpt-4o 2024-11-20 is deprecated since 2025-11-20 (no new customers may "
                "deploy it); it retires on 2026-10-01 (replacement: gpt-5.1)") in messages
    assert any(line == 73 and "deprecated since 2025-07-18" in m for line, m in messages)
    # The spec names no version_upgrade: since issue 21 that means OnceCurrentVersionExpired
    # (NoAutoUpgrade only when asked for), so nothing pins the retiring version.
    assert not any("NoAutoUpgrade" in m for _, m in messages)


GPT55 = ("gpt-5.5 2026-04-24 is deprecated since 2026-10-24 (no new customers may deploy it); "
         "it retires on 2027-04-24")
#: The only findings left in the default spec: the newest Azure version the catalog knows is
#: past its "no new customers" date on the catalog's date (see examples/platform.yaml).
DEFAULT_WARNINGS = [(87, "azure.accounts[0].deployments[0].version", GPT55),
                    (95, "azure.accounts[0].deployments[1].version", GPT55)]


@pytest.mark.parametrize("name", ["platform.yaml", "minimal.yaml"])
def test_shipped_specs_validate_without_errors(name: str) -> None:
    warnings: list[SpecIssue] = []
    spec = load_spec(ROOT / "examples" / name, warnings=warnings, today=AS_OF)
    expected = DEFAULT_WARNINGS if name == "platform.yaml" else []
    assert [(w.line, w.dotted, w.message) for w in warnings] == expected
    # Every model entry that omits its price got the catalog's.
    cfg = gateway_config(spec)
    assert all(t["price"]["input_per_million"] > 0 for t in cfg["targets"].values())


def test_validate_cli_prints_errors_with_lines_and_warnings() -> None:
    result = CliRunner().invoke(main, ["validate", str(OLD_DEFAULT)])
    assert result.exit_code == 2
    out = result.output
    assert f"platform-2026-11.yaml:36: aws.regions.eu-central-1.bedrock_models[1].model_id: " \
           f"{NOVA}" in out
    assert "platform-2026-11.yaml:66: azure.accounts[0].deployments[0].version: " in out
    assert "platform-2026-11.yaml:73: azure.accounts[0].deployments[1].version: " in out
    assert "warning: " in out and "openai.gpt-oss-120b-1:0" in out


def test_validate_cli_default_spec_passes_with_its_two_warnings() -> None:
    result = CliRunner().invoke(main, ["validate", str(ROOT / "examples" / "platform.yaml")])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 2 and all(GPT55 in line for line in warned)
    assert "ok " in result.output
