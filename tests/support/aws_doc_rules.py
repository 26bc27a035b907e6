"""Rules the AWS documentation states but the service models cannot express, as named checks
beside the model validation (:mod:`aws_oracle`). Each names its page.

Example::

    from aws_doc_rules import doc_problems
    doc_problems(call)   # ['sagemaker-no-volume-key-on-local-storage: ... (<url>)']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_oracle import Call

from skyrelay.constructs.instance_storage import VOLUME_KEY_RULE_URL, has_local_storage


@dataclass(frozen=True)
class DocRule:
    """One documented rule: applies to ``(service, operation)``, yields problems."""

    name: str
    url: str
    service: str
    operation: str
    check: Callable[[dict[str, Any]], Iterator[str]]


def _no_volume_key_on_local_storage(params: dict[str, Any]) -> Iterator[str]:
    config = params.get("ResourceConfig", {})
    if "VolumeKmsKeyId" in config and has_local_storage(config.get("InstanceType", "")):
        yield (f"VolumeKmsKeyId is set for {config['InstanceType']}, which has local "
               "instance storage (encrypted by the instance's hardware module)")


def _sagemaker_s3_uris(params: dict[str, Any]) -> Iterator[str]:
    # The model's pattern admits https:// too (for manifests), but a training channel and the
    # output path are "s3://bucket/prefix": an https URL is read with the host as bucket.
    for channel in params.get("InputDataConfig", []):
        uri = channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
        if not uri.startswith("s3://"):
            yield f"channel {channel.get('ChannelName')}: S3Uri {uri!r} is not s3://bucket/prefix"
    out = params.get("OutputDataConfig", {}).get("S3OutputPath", "")
    if not out.startswith("s3://"):
        yield f"OutputDataConfig.S3OutputPath {out!r} is not s3://bucket/prefix"


_TITAN_V2_FIELDS = {"inputText", "dimensions", "normalize", "embeddingTypes"}


def _titan_embed_v2_body(params: dict[str, Any]) -> Iterator[str]:
    if not str(params.get("modelId", "")).startswith("amazon.titan-embed-text-v2"):
        return
    body = json.loads(params["body"])
    if not isinstance(body.get("inputText"), str) or not body["inputText"]:
        yield "the body needs inputText, a non-empty string"
    if unknown := set(body) - _TITAN_V2_FIELDS:
        yield f"unknown body fields {sorted(unknown)} (allowed: {sorted(_TITAN_V2_FIELDS)})"
    if "dimensions" in body and body["dimensions"] not in (256, 512, 1024):
        yield f"dimensions {body['dimensions']!r} is not 256, 512 or 1024"
    if params.get("contentType") not in (None, "application/json"):
        yield f"contentType {params.get('contentType')!r} is not application/json"


RULES: tuple[DocRule, ...] = (
    DocRule("sagemaker-no-volume-key-on-local-storage", VOLUME_KEY_RULE_URL,
            "sagemaker", "CreateTrainingJob", _no_volume_key_on_local_storage),
    DocRule("sagemaker-s3-uris",
            "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html",
            "sagemaker", "CreateTrainingJob", _sagemaker_s3_uris),
    DocRule("titan-embed-text-v2-body",
            "https://docs.aws.amazon.com/bedrock/latest/userguide/"
            "model-parameters-titan-embed-text.html",
            "bedrock-runtime", "InvokeModel", _titan_embed_v2_body),
)


def doc_problems(call: Call) -> list[str]:
    """Problems of ``call`` under every documented rule for its operation."""
    return [f"{rule.name}: {problem} ({rule.url})"
            for rule in RULES if (rule.service, rule.operation) == (call.service, call.operation)
            for problem in rule.check(call.params)]
