"""A pytest plugin that records every Bedrock runtime request the gateway builds.

Loaded with ``-p bedrock_request_recorder`` while ``SKYRELAY_RECORD_BEDROCK`` names a file:
it wraps the gateway's public translation function (``to_converse``) and the Bedrock
provider's one request method, and appends one JSON line per request body they produce:
``{"kind": "translation", "body": ...}`` or ``{"kind": "wire", "op": "converse", "model":
..., "accept": ..., "body": ...}``. Nothing else changes: the wrapped functions return what
they returned. tests/e2e/aws_oracle validates the recorded bodies against botocore's model.

Example::

    SKYRELAY_RECORD_BEDROCK=/tmp/bodies.jsonl pytest -p bedrock_request_recorder \\
        tests/gateway/providers
"""

from __future__ import annotations

import json
import os
from typing import Any

from skyrelay.gateway.providers import bedrock, bedrock_translate

_PATH = os.environ.get("SKYRELAY_RECORD_BEDROCK")


def _write(record: dict[str, Any]) -> None:
    if _PATH:
        with open(_PATH, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


_to_converse = bedrock_translate.to_converse


def _recording_to_converse(request: dict[str, Any]) -> dict[str, Any]:
    body = _to_converse(request)
    _write({"kind": "translation", "body": body})
    return body


_post = bedrock.BedrockProvider._post


async def _recording_post(self: Any, target: Any, path: str, body: dict[str, Any],
                          deadline: float, accept: str) -> Any:
    _write({"kind": "wire", "op": path.rsplit("/", 1)[-1], "model": target.model,
            "accept": accept, "body": body})
    return await _post(self, target, path, body, deadline, accept)


if _PATH:
    # Before the test modules import it by name (`from ... import to_converse`).
    bedrock_translate.to_converse = _recording_to_converse
    bedrock.to_converse = _recording_to_converse
    bedrock.BedrockProvider._post = _recording_post
