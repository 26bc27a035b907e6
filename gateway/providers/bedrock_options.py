"""Chat Completions options that Converse expresses outside messages and inferenceConfig.

- ``response_format`` -> ``outputConfig.textFormat`` (type ``json_schema``, the schema as a
  JSON string): Bedrock's structured outputs, "For Converse APIs, use the
  outputConfig.textFormat request field"
  (https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html). Only models
  the catalog marks ``structured_output`` get here (:mod:`skyrelay.gateway.hub.fields`);
  ``json_object`` is the schema ``{"type": "object"}``.
- ``metadata``, ``user``, ``safety_identifier`` -> ``requestMetadata`` (key-value pairs that
  filter invocation logs; botocore's shape: at most 16 pairs, keys 1-256 and values 0-256
  characters of ``[a-zA-Z0-9\\s:_@$#=/+,-.]``).
- ``service_tier`` -> ``serviceTier.type`` (``auto`` is Bedrock's default: nothing sent).

Each raises a 400 :class:`ProviderError` naming ``param`` for a value Converse cannot take.

Example::

    output_config({"type": "json_object"})
    # {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {...}}}}
"""

from __future__ import annotations

import json
import re
from typing import Any

from skyrelay.gateway.providers.base import ProviderError

_METADATA_TEXT = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]*")
_MAX_METADATA = 16


def bad(message: str, param: str | None = None) -> ProviderError:
    """The client's error (400), naming ``param`` when known."""
    return ProviderError("bad_request", 400, message, code="invalid_request", param=param)


def output_config(response_format: Any) -> dict[str, Any] | None:
    """``outputConfig`` for a ``response_format`` (None for text or absent)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise bad("'response_format' must be an object", "response_format")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        structure = {"jsonSchema": {"schema": '{"type": "object"}', "name": "json_object"}}
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise bad("'response_format.json_schema' must be an object with a 'name'",
                      "response_format.json_schema")
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise bad("'response_format.json_schema.schema' must be an object",
                      "response_format.json_schema.schema")
        entry: dict[str, Any] = {"schema": json.dumps(schema or {"type": "object"}),
                                 "name": spec["name"]}
        if isinstance(spec.get("description"), str):
            entry["description"] = spec["description"]
        structure = {"jsonSchema": entry}
    else:
        raise bad(f"unsupported response_format type {str(kind)[:40]!r}",
                  "response_format.type")
    return {"textFormat": {"type": "json_schema", "structure": structure}}


def _metadata_text(value: Any, param: str, low: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= 256 \
            or not _METADATA_TEXT.fullmatch(value):
        raise bad(f"'{param}' must be a string of {low}-256 letters, digits, spaces or "
                  ":_@$#=/+,-. for Bedrock's requestMetadata", param)
    return value


def request_metadata(request: dict[str, Any]) -> dict[str, str] | None:
    """``requestMetadata`` from ``metadata``, ``user`` and ``safety_identifier``."""
    out: dict[str, str] = {}
    metadata = request.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise bad("'metadata' must be an object of strings", "metadata")
        for key, value in metadata.items():
            out[_metadata_text(key, "metadata", 1)] = _metadata_text(
                value, f"metadata.{key}", 0)
    for name in ("user", "safety_identifier"):
        value = request.get(name)
        if value is not None:
            out[name] = _metadata_text(value, name, 0)
    if len(out) > _MAX_METADATA:
        raise bad(f"Bedrock's requestMetadata takes at most {_MAX_METADATA} pairs "
                  "(metadata, user and safety_identifier together)", "metadata")
    return out or None


def service_tier(value: Any) -> dict[str, str] | None:
    """``serviceTier`` for OpenAI's ``service_tier`` (None for ``auto``)."""
    if value is None or value == "auto":
        return None
    if value in ("default", "flex", "priority"):
        return {"type": value}
    raise bad(f"service_tier {str(value)[:40]!r} has no Bedrock equivalent (Bedrock's tiers "
              "are reserved, priority, default and flex)", "service_tier")
