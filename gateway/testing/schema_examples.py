"""A small instance of a JSON schema: what the fake upstreams answer to structured output.

Example::

    example_of({"type": "object", "properties": {"n": {"type": "integer"}}})  # {"n": 1}
"""

from __future__ import annotations

from typing import Any


def example_of(schema: dict[str, Any]) -> Any:
    """A small instance of a JSON schema (objects, arrays, strings, numbers, booleans)."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: example_of(sub) for name, sub in props.items()}
    if kind == "array":
        return [example_of(schema.get("items") or {})]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return "Hello from Bedrock"
