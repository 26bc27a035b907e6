"""Property: any YAML document yields a Spec or a SpecError with a location, never another
exception. Documents are drawn three ways: arbitrary YAML values, arbitrary text, and the
default spec with one value replaced by an arbitrary one (the mistakes people make)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyrelay.spec import Spec, SpecError, parse_spec_text

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["us-east-1", "eu", "any", "-1", "Standard", ""]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _check(text: str | bytes) -> None:
    try:
        spec = parse_spec_text(text, "fuzz.yaml")
    except SpecError as err:
        assert err.issues
        for issue in err.issues:
            assert issue.file == "fuzz.yaml"
            assert issue.message
        return
    assert isinstance(spec, Spec)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_yaml_value(value: Any) -> None:
    _check(yaml.safe_dump(value))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    _check(text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=100))
def test_any_bytes(data: bytes) -> None:
    _check(data)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(DEFAULT) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), values)
def test_default_spec_with_one_value_replaced(path: tuple[Any, ...], value: Any) -> None:
    import copy

    doc = copy.deepcopy(DEFAULT)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    _check(yaml.safe_dump(doc))
