"""The difference between two catalogs, as one readable line per fact.

``skyrelay catalog refresh`` shows this before it writes anything.

Example::

    >>> old = {"models": [{"id": "a.b-v1:0", "kind": "chat"}], "profiles": []}
    >>> new = {"models": [{"id": "a.b-v1:0", "kind": "chat",
    ...        "availability": [{"on_demand": True, "regions": ["us-east-1"]}]}], "profiles": []}
    >>> catalog_diff(old, {}, new, {})
    (['bedrock a.b-v1:0: on demand in us-east-1'], [])
"""

from __future__ import annotations

from typing import Any


def bedrock_lines(data: dict[str, Any]) -> set[str]:
    """One line per Bedrock fact (model, availability per region, profile routes)."""
    out: set[str] = set()
    for m in data.get("models", []):
        out.add(f"bedrock {m['id']}: {m['kind']} model")
        for block in m.get("availability", []):
            how = "on demand" if block["on_demand"] else "not on demand"
            out.update(f"bedrock {m['id']}: {how} in {r}" for r in block["regions"])
    for p in data.get("profiles", []):
        dest = p["destinations"]
        dest_text = "any region" if dest == "any" else ", ".join(dest)
        out.add(f"bedrock profile {p['id']}: from {', '.join(p['sources'])} to {dest_text}")
    return out


def azure_lines(data: dict[str, Any]) -> set[str]:
    """One line per Azure fact (model version, SKU per location, retirement)."""
    out: set[str] = set()
    for m in data.get("models", []):
        what = f"azure {m['name']} {m['version']}"
        out.add(f"{what}: {m['kind']} model")
        for o in m.get("offers", []):
            out.update(f"{what}: {o['sku']} in {loc}" for loc in o["locations"])
        life = m.get("lifecycle") or {}
        if life.get("retirement"):
            out.add(f"{what}: retires {life['retirement']}")
    return out


def catalog_diff(old_bedrock: dict[str, Any], old_azure: dict[str, Any],
                 new_bedrock: dict[str, Any], new_azure: dict[str, Any]
                 ) -> tuple[list[str], list[str]]:
    """``(added, removed)`` fact lines, sorted."""
    old = bedrock_lines(old_bedrock) | azure_lines(old_azure)
    new = bedrock_lines(new_bedrock) | azure_lines(new_azure)
    return sorted(new - old), sorted(old - new)
