"""``refresh`` against Bedrock's API through botocore's Stubber: the real service model
checks every request and response; a pagination page and an access-denied region included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.stub import Stubber

from skyrelay.catalog import load_catalog
from skyrelay.catalog.refresh_run import RefreshInputs, run_refresh

TODAY = dt.date(2026, 12, 2)


def _summary(model_id: str, *types: str, output: str = "TEXT") -> dict[str, Any]:
    return {"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}",
            "modelId": model_id, "providerName": "Amazon", "inputModalities": ["TEXT"],
            "outputModalities": [output], "responseStreamingSupported": True,
            "inferenceTypesSupported": list(types), "modelLifecycle": {"status": "ACTIVE"}}


def _profile(pid: str, model: str, regions: list[str]) -> dict[str, Any]:
    return {"inferenceProfileName": pid, "inferenceProfileArn":
            f"arn:aws:bedrock:us-east-1:111122223333:inference-profile/{pid}",
            "inferenceProfileId": pid, "status": "ACTIVE", "type": "SYSTEM_DEFINED",
            "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model}"}
                       for r in regions]}


US3 = ["us-east-1", "us-east-2", "us-west-2"]


@pytest.fixture
def stubbed() -> tuple[dict[str, Stubber], Any]:
    session = botocore.session.get_session()
    clients, stubbers = {}, {}
    for region in ("us-east-1", "eu-central-1"):
        client = session.create_client("bedrock", region_name=region, aws_access_key_id="AKIA",
                                       aws_secret_access_key="x")
        clients[region], stubbers[region] = client, Stubber(client)
    us = stubbers["us-east-1"]
    us.add_response("list_foundation_models", {"modelSummaries": [
        _summary("amazon.nova-pro-v1:0", "ON_DEMAND"),
        _summary("amazon.nova-2-lite-v1:0"),  # new this month: profile only
        _summary("amazon.titan-embed-text-v2:0", "ON_DEMAND", output="EMBEDDING"),
    ]}, {})
    us.add_response("list_inference_profiles", {
        "inferenceProfileSummaries": [_profile("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0",
                                               US3)],
        "nextToken": "page-2"}, {"typeEquals": "SYSTEM_DEFINED"})
    us.add_response("list_inference_profiles", {"inferenceProfileSummaries": [
        _profile("us.amazon.nova-2-lite-v1:0", "amazon.nova-2-lite-v1:0", US3)]},
        {"typeEquals": "SYSTEM_DEFINED", "nextToken": "page-2"})
    stubbers["eu-central-1"].add_client_error(
        "list_foundation_models", service_error_code="AccessDeniedException",
        service_message="not authorized to perform bedrock:ListFoundationModels",
        http_status_code=403)
    for s in stubbers.values():
        s.activate()
    yield stubbers, clients.__getitem__
    for s in stubbers.values():
        s.deactivate()


def _run(client_for: Any) -> Any:
    return run_refresh(load_catalog(), RefreshInputs(
        aws_regions=["us-east-1", "eu-central-1"], azure_subscription=None, today=TODAY,
        bedrock_client=client_for, ask_aws=True))


def test_refresh_pages_through_profiles_and_keeps_a_refusing_region(stubbed: Any) -> None:
    stubbers, client_for = stubbed
    result = _run(client_for)
    for s in stubbers.values():
        s.assert_no_pending_responses()  # both pages asked for, with the token of page 1
    assert "Bedrock eu-central-1 refused (AccessDeniedException: not authorized to perform " \
           "bedrock:ListFoundationModels): its facts are kept" in result.notes
    assert "Bedrock: 1 of 2 regions answered" in result.notes
    # Added: the new model and the profile from the second page.
    assert "bedrock amazon.nova-2-lite-v1:0: not on demand in us-east-1" in result.added
    assert ("bedrock profile us.amazon.nova-2-lite-v1:0: from us-east-1 to us-east-1, "
            "us-east-2, us-west-2") in result.added
    # Removed: what us-east-1 no longer lists (Nova Lite was on demand there).
    assert "bedrock amazon.nova-lite-v1:0: on demand in us-east-1" in result.removed
    # eu-central-1 did not answer: its facts stay.
    assert not any("eu-central-1" in line for line in result.removed)
    nova = next(m for m in result.bedrock["models"] if m["id"] == "amazon.nova-pro-v1:0")
    api = [b for b in nova["availability"] if b["source"] == "api-bedrock"]
    assert api == [{"on_demand": True, "regions": ["us-east-1"], "source": "api-bedrock",
                    "checked": "2026-12-02"}]
    assert any("eu-central-1" in b["regions"] for b in nova["availability"])
    assert nova["capabilities"]["source"] == "aws-converse-features"  # docs facts kept
    assert result.bedrock["as_of"] == "2026-12-02"


def test_refreshed_catalog_loads_and_judges_with_the_new_facts(stubbed: Any,
                                                               tmp_path: Path) -> None:
    _, client_for = stubbed
    result = _run(client_for)
    (tmp_path / "bedrock.yaml").write_text(yaml.safe_dump(result.bedrock, sort_keys=False))
    (tmp_path / "azure.yaml").write_text(yaml.safe_dump(result.azure, sort_keys=False))
    cat = load_catalog(tmp_path)
    placement = cat.bedrock_placement("amazon.nova-2-lite-v1:0", "us-east-1")
    assert placement.status == "profile_only"
    assert placement.profiles == ("us.amazon.nova-2-lite-v1:0",)
    assert cat.bedrock_placement("amazon.nova-pro-v1:0", "eu-central-1").status == "profile_only"
    assert cat.profiles["us.amazon.nova-2-lite-v1:0"].fact.source.key == "api-bedrock"


def test_refresh_without_credentials_says_so_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AZURE_"))}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true",
               HOME=str(tmp_path))
    cli = Path(sys.executable).with_name("skyrelay")
    run = subprocess.run([str(cli), "catalog", "refresh"], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "skyrelay catalog refresh: no AWS credentials and no Azure subscription "
        f"(AZURE_SUBSCRIPTION_ID); nothing refreshed, the catalog stays as of "
        f"{load_catalog().as_of}"]
    assert not (tmp_path / ".skyrelay").exists()


def test_cli_shows_the_difference_before_writing(stubbed: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from skyrelay.catalog import cli as catalog_cli
    from skyrelay.catalog import refresh_run
    from skyrelay.cli import main

    _, client_for = stubbed
    monkeypatch.setattr(catalog_cli, "_aws_ready", lambda: None)  # "credentials exist"
    monkeypatch.setattr(refresh_run, "_botocore_clients", lambda: client_for)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    out = tmp_path / "catalog"
    answer_no = CliRunner().invoke(main, ["catalog", "refresh", "--out", str(out),
                                          "--aws-region", "us-east-1",
                                          "--aws-region", "eu-central-1"], input="n\n")
    assert answer_no.exit_code == 0, answer_no.output
    lines = answer_no.output.splitlines()
    plus = [i for i, line in enumerate(lines) if line.startswith("+ bedrock profile us.amazon"
                                                                 ".nova-2-lite-v1:0")]
    ask = [i for i, line in enumerate(lines) if line.startswith("write the rebuilt catalog")]
    assert plus and ask and plus[0] < ask[0]
    assert lines[-1] == "nothing written" and not out.exists()
    assert "note: Azure skipped: no subscription" in lines


def test_cli_writes_a_catalog_that_loads(stubbed: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from skyrelay.catalog import cli as catalog_cli
    from skyrelay.catalog import refresh_run
    from skyrelay.cli import main

    _, client_for = stubbed
    monkeypatch.setattr(catalog_cli, "_aws_ready", lambda: None)
    monkeypatch.setattr(refresh_run, "_botocore_clients", lambda: client_for)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    out = tmp_path / "catalog"
    run = CliRunner().invoke(main, ["catalog", "refresh", "--out", str(out), "--yes",
                                    "--aws-region", "us-east-1", "--aws-region", "eu-central-1"])
    assert run.exit_code == 0, run.output
    assert run.output.splitlines()[-1] == f"wrote {out}; use it with SKYRELAY_CATALOG_DIR={out}"
    cat = load_catalog(out)
    assert cat.bedrock_as_of == dt.date.today()
    assert "us.amazon.nova-2-lite-v1:0" in cat.profiles
