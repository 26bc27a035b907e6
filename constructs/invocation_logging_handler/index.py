"""CloudFormation custom resource: the account's Bedrock model invocation logging configuration.

There is no CloudFormation resource for this account-and-region-wide setting, so this handler
calls the Bedrock control plane. It is careful because the setting is shared:

* it reads the current configuration first and refuses to replace one it did not create
  (one whose destinations are not this resource's log group or bucket), unless the resource
  says ``TakeOverExisting: "true"``; it then saves the previous configuration in an SSM
  parameter and restores it on delete;
* on delete it removes the configuration only when the current one is its own, so a failed
  create never wipes someone else's setting;
* its physical id is fixed (``bedrock-invocation-logging``), so updates never look like a
  replacement to CloudFormation.

Runs on the Lambda Python runtime (boto3 included); ``handle`` takes injectable clients so it
can be tested without AWS.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

PHYSICAL_ID = "bedrock-invocation-logging"

log = logging.getLogger()
log.setLevel(logging.INFO)


class Refused(Exception):
    """The request would overwrite a configuration this resource does not own."""


def _markers(config: dict[str, Any] | None) -> set[str]:
    """Destinations that identify a configuration as ours: log group and bucket names."""
    if not config:
        return set()
    out = set()
    group = (config.get("cloudWatchConfig") or {}).get("logGroupName")
    bucket = (config.get("s3Config") or {}).get("bucketName")
    if group:
        out.add(f"logs:{group}")
    if bucket:
        out.add(f"s3:{bucket}")
    return out


def _current(bedrock: Any) -> dict[str, Any] | None:
    return bedrock.get_model_invocation_logging_configuration().get("loggingConfig") or None


def _saved_previous(ssm: Any, name: str) -> dict[str, Any] | None:
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return json.loads(value)


def apply(request: str, props: dict[str, Any], old_props: dict[str, Any] | None,
          bedrock: Any, ssm: Any) -> str:
    """Carry out one CloudFormation request; return a short description of what was done."""
    desired = json.loads(props["LoggingConfig"])
    state_param = props["StateParameterName"]
    take_over = str(props.get("TakeOverExisting", "false")).lower() == "true"
    ours = _markers(desired) | _markers(json.loads(old_props["LoggingConfig"])
                                        if old_props else None)
    current = _current(bedrock)
    foreign = current is not None and not (_markers(current) & ours)

    if request in ("Create", "Update"):
        if foreign:
            if not take_over:
                raise Refused(
                    "this account and region already has a Bedrock invocation logging "
                    f"configuration that skyrelay did not create ({sorted(_markers(current))}); "
                    "set take_over_existing=True to replace it (it is restored on delete)"
                )
            if _saved_previous(ssm, state_param) is None:
                ssm.put_parameter(Name=state_param, Value=json.dumps(current), Type="String",
                                  Overwrite=True)
        bedrock.put_model_invocation_logging_configuration(loggingConfig=desired)
        return "configured"

    if request == "Delete":
        if current is None or foreign:
            return "left alone (not ours)"
        previous = _saved_previous(ssm, state_param)
        if previous is not None:
            bedrock.put_model_invocation_logging_configuration(loggingConfig=previous)
            ssm.delete_parameter(Name=state_param)
            return "restored the previous configuration"
        bedrock.delete_model_invocation_logging_configuration()
        return "deleted"
    raise ValueError(f"unknown request type {request!r}")


def _send(url: str, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="PUT",
                                 headers={"content-type": "", "content-length": str(len(data))})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (pre-signed S3 URL)
        resp.read()


def handle(event: dict[str, Any], context: Any = None, *, bedrock: Any = None, ssm: Any = None,
           respond: Callable[[str, dict[str, Any]], None] = _send) -> dict[str, Any]:
    """Lambda entry point: apply the request and always answer CloudFormation."""
    status, reason = "SUCCESS", ""
    try:
        if bedrock is None or ssm is None:
            import boto3  # only on Lambda; tests inject fakes

            bedrock = bedrock or boto3.client("bedrock")
            ssm = ssm or boto3.client("ssm")
        reason = apply(event["RequestType"], event["ResourceProperties"],
                       event.get("OldResourceProperties"), bedrock, ssm)
    except Exception as exc:  # every failure must reach CloudFormation, or it waits an hour
        log.exception("request failed")
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    body = {
        "Status": status,
        "Reason": reason[:3000],
        "PhysicalResourceId": PHYSICAL_ID,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {},
    }
    respond(event["ResponseURL"], body)
    return body
