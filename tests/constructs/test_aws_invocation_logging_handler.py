"""The invocation-logging custom resource handler against a fake Bedrock and SSM (the cloud
is the only thing mocked): it never clobbers a configuration it did not create."""

from __future__ import annotations

import json
from typing import Any

import pytest

# The Lambda handler ships as package data of skyrelay.constructs; import it by name.
from skyrelay.constructs.invocation_logging_handler import index as handler

OURS = {"cloudWatchConfig": {"logGroupName": "ours-group", "roleArn": "arn:role"},
        "s3Config": {"bucketName": "ours-bucket", "keyPrefix": "p"},
        "textDataDeliveryEnabled": True}
FOREIGN = {"s3Config": {"bucketName": "someone-elses-bucket"}, "textDataDeliveryEnabled": True}


class FakeBedrock:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config
        self.calls: list[str] = []

    def get_model_invocation_logging_configuration(self) -> dict[str, Any]:
        return {"loggingConfig": self.config} if self.config else {}

    def put_model_invocation_logging_configuration(self, loggingConfig: dict[str, Any]) -> None:
        self.calls.append("put")
        self.config = loggingConfig

    def delete_model_invocation_logging_configuration(self) -> None:
        self.calls.append("delete")
        self.config = None


class FakeSsm:
    class exceptions:  # noqa: N801 (boto3's shape)
        class ParameterNotFound(Exception):
            pass

    def __init__(self) -> None:
        self.params: dict[str, str] = {}

    def get_parameter(self, Name: str) -> dict[str, Any]:
        if Name not in self.params:
            raise self.exceptions.ParameterNotFound(Name)
        return {"Parameter": {"Value": self.params[Name]}}

    def put_parameter(self, Name: str, Value: str, Type: str, Overwrite: bool) -> None:
        self.params[Name] = Value

    def delete_parameter(self, Name: str) -> None:
        del self.params[Name]


def event(request: str, take_over: bool = False, old: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    props = {"LoggingConfig": json.dumps(OURS), "StateParameterName": "/skyrelay/prev",
             "TakeOverExisting": "true" if take_over else "false"}
    ev = {"RequestType": request, "ResourceProperties": props, "StackId": "stack",
          "RequestId": "req", "LogicalResourceId": "Configuration",
          "ResponseURL": "https://example.invalid/response"}
    if old is not None:
        ev["OldResourceProperties"] = {**props, "LoggingConfig": json.dumps(old)}
    return ev


def run(ev: dict[str, Any], bedrock: FakeBedrock, ssm: FakeSsm) -> dict[str, Any]:
    sent: list[dict[str, Any]] = []
    body = handler.handle(ev, bedrock=bedrock, ssm=ssm, respond=lambda url, b: sent.append(b))
    assert sent == [body]  # CloudFormation always gets exactly one answer
    return body


def test_create_on_an_unconfigured_account_sets_the_config() -> None:
    bedrock, ssm = FakeBedrock(), FakeSsm()
    body = run(event("Create"), bedrock, ssm)
    assert body["Status"] == "SUCCESS" and bedrock.config == OURS
    assert body["PhysicalResourceId"] == "bedrock-invocation-logging"


def test_create_refuses_to_overwrite_a_foreign_config() -> None:
    bedrock, ssm = FakeBedrock(FOREIGN), FakeSsm()
    body = run(event("Create"), bedrock, ssm)
    assert body["Status"] == "FAILED" and "did not create" in body["Reason"]
    assert bedrock.config == FOREIGN and bedrock.calls == []


def test_take_over_saves_and_delete_restores_the_previous_config() -> None:
    bedrock, ssm = FakeBedrock(FOREIGN), FakeSsm()
    assert run(event("Create", take_over=True), bedrock, ssm)["Status"] == "SUCCESS"
    assert bedrock.config == OURS and json.loads(ssm.params["/skyrelay/prev"]) == FOREIGN
    assert run(event("Delete", take_over=True), bedrock, ssm)["Status"] == "SUCCESS"
    assert bedrock.config == FOREIGN and ssm.params == {}


def test_delete_leaves_a_foreign_config_alone() -> None:
    # e.g. the rollback of a create that was refused
    bedrock, ssm = FakeBedrock(FOREIGN), FakeSsm()
    assert run(event("Delete"), bedrock, ssm)["Status"] == "SUCCESS"
    assert bedrock.config == FOREIGN and bedrock.calls == []


def test_delete_removes_our_own_config() -> None:
    bedrock, ssm = FakeBedrock(OURS), FakeSsm()
    run(event("Delete"), bedrock, ssm)
    assert bedrock.config is None and bedrock.calls == ["delete"]


def test_update_recognizes_the_config_it_set_before_a_destination_change() -> None:
    old = {**OURS, "s3Config": {"bucketName": "old-bucket"},
           "cloudWatchConfig": {"logGroupName": "old-group"}}
    bedrock, ssm = FakeBedrock(old), FakeSsm()
    body = run(event("Update", old=old), bedrock, ssm)
    assert body["Status"] == "SUCCESS" and bedrock.config == OURS


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_an_api_error_is_reported_as_failed(request_type: str) -> None:
    class Broken(FakeBedrock):
        def get_model_invocation_logging_configuration(self) -> dict[str, Any]:
            raise RuntimeError("AccessDenied")

    body = run(event(request_type), Broken(), FakeSsm())
    assert body["Status"] == "FAILED" and "AccessDenied" in body["Reason"]
