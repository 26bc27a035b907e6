"""Door field x target kind -> translate | passthrough | refuse, with the reason.

Every top-level field of every front door has, for every target kind, a :class:`Rule`:

- **translate**: the gateway implements the field's meaning for that target (maps it to the
  target's own parameter, or does the work itself: base64 encoding, the usage chunk);
- **passthrough**: the target speaks the door's API and receives the field unchanged;
- **refuse**: the target cannot honour it, so the request is answered 400 with ``param``
  naming the field and a message naming the target and the reason; never silently dropped.

A rule may depend on the value (``n: 1`` changes nothing; ``n: 2`` cannot be served) and on
the target's catalog capabilities (``response_format: json_schema`` where the catalog says
``structured_output``): its :class:`Case` list is tried in order, the rule's own decision
applies when none matches. Fields a door does not list take the table's ``unknown``
decision for the kind: passed through to a target that speaks the door's API, refused
otherwise. ``docs/gateway-field-decisions.md`` is generated from this table
(``make decision-table``; a test fails when it drifts).

Doors register their rows with :func:`register`; the server asks :func:`refusal` per
eligible target and keeps only targets that can serve the request.

Example::

    register("my_door", "bedrock", {"foo": Rule(refuse("Bedrock has no foo"))},
             unknown=refuse("not a field of this API"))
    err = refusal("my_door", {"foo": 1}, target)   # GatewayError 400, param "foo", or None
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.request import API_CHAT, API_EMBEDDINGS, API_MESSAGES, API_RESPONSES

Action = Literal["translate", "passthrough", "refuse"]

#: Target kinds, with the label error messages use.
KIND_LABELS: dict[str, str] = {
    "bedrock": "Amazon Bedrock (Converse / InvokeModel)",
    "bedrock_openai": "Amazon Bedrock OpenAI-compatible endpoint",
    "azure_openai": "Azure OpenAI",
    "openai_compatible": "OpenAI-compatible",
}
TARGET_KINDS = tuple(KIND_LABELS)

#: The client APIs each target kind accepts natively (passthrough when the door's API is
#: one of them). Provider classes take their ``speaks`` from here.
SPEAKS: dict[str, frozenset[str]] = {
    "bedrock": frozenset(),
    "bedrock_openai": frozenset({API_CHAT, API_RESPONSES}),
    "azure_openai": frozenset({API_CHAT, API_EMBEDDINGS, API_RESPONSES}),
    "openai_compatible": frozenset({API_CHAT, API_EMBEDDINGS}),
}


def target_kind(target: TargetConfig) -> str:
    """The kind of a target: its cloud, and for Bedrock the API its spec entry chose."""
    cloud = target.cloud
    if cloud == "bedrock":
        return "bedrock_openai" if target.api == "openai" else "bedrock"
    if cloud == "azure":
        return "azure_openai"
    return "openai_compatible"


def speaks(target: TargetConfig) -> frozenset[str]:
    """The client APIs ``target`` accepts natively: its kind's, plus the Anthropic Messages
    API for Claude on Bedrock (InvokeModel takes the Messages body)."""
    apis = SPEAKS[target_kind(target)]
    if target.cloud == "bedrock" and _fields_messages.speaks_messages(target):
        return apis | {API_MESSAGES}
    return apis


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to a field on a target kind, and why (shown in docs and errors)."""

    action: Action
    reason: str


def translate(reason: str) -> Decision:
    """A translate decision."""
    return Decision("translate", reason)


def passthrough(reason: str = "the target speaks this API") -> Decision:
    """A passthrough decision."""
    return Decision("passthrough", reason)


def refuse(reason: str) -> Decision:
    """A refuse decision (400 naming the field, the target and ``reason``)."""
    return Decision("refuse", reason)


Test = Callable[[Any, TargetConfig], bool]


@dataclass(frozen=True, slots=True)
class Case:
    """A value- or capability-dependent decision: ``when`` describes ``test`` for the docs."""

    when: str
    test: Test
    decision: Decision


@dataclass(frozen=True, slots=True)
class Rule:
    """The decisions for one field on one target kind: the first matching case, else
    ``decision``."""

    decision: Decision
    cases: tuple[Case, ...] = ()

    def decide(self, value: Any, target: TargetConfig) -> Decision:
        """The decision for this value on this target."""
        for case in self.cases:
            if case.test(value, target):
                return case.decision
        return self.decision

    def actions(self) -> set[str]:
        """Every action this rule can take."""
        return {self.decision.action, *(c.decision.action for c in self.cases)}


@dataclass(frozen=True, slots=True)
class Table:
    """The rules of one door on one target kind."""

    rules: Mapping[str, Rule]
    unknown: Decision
    #: no rule can refuse and unknown fields are not refused: the check can be skipped
    never_refuses: bool


_TABLES: dict[tuple[str, str], Table] = {}


def register(door: str, kind: str, rules: Mapping[str, Rule], *, unknown: Decision) -> None:
    """Add (or replace) the rules of ``door`` for target ``kind``."""
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown target kind {kind!r}; expected one of {TARGET_KINDS}")
    never = unknown.action != "refuse" and all("refuse" not in r.actions()
                                               for r in rules.values())
    _TABLES[(door, kind)] = Table(dict(rules), unknown, never)


def table(door: str, kind: str) -> Table | None:
    """The registered table, or None."""
    return _TABLES.get((door, kind))


def tables() -> Iterator[tuple[str, str, Table]]:
    """Every ``(door, kind, table)``, sorted by door then kind order."""
    order = {k: i for i, k in enumerate(TARGET_KINDS)}
    for door, kind in sorted(_TABLES, key=lambda dk: (dk[0], order[dk[1]])):
        yield door, kind, _TABLES[(door, kind)]


def refusal_error(field: str, target: TargetConfig, reason: str) -> GatewayError:
    """The 400 for a field ``target`` cannot honour (also used by translations for nested
    fields, so every refusal reads the same)."""
    label = KIND_LABELS[target_kind(target)]
    return GatewayError(400, f"'{field}' is not supported by route target '{target.key}' "
                             f"({label}, model {target.model}): {reason}.",
                        type="invalid_request_error", param=field,
                        code="unsupported_parameter")


def refusal(door: str, body: Mapping[str, Any], target: TargetConfig) -> GatewayError | None:
    """The 400 for the first field of ``body`` that ``target`` refuses, or None.

    Fields whose value is null count as absent (the SDKs send ``None`` for "not given").
    """
    tbl = _TABLES.get((door, target_kind(target)))
    if tbl is None:
        return GatewayError(400, f"Route target '{target.key}' "
                                 f"({KIND_LABELS[target_kind(target)]}) cannot serve this "
                                 "API.", param=None, code="unsupported_api")
    if tbl.never_refuses:
        return None
    rules = tbl.rules
    for name, value in body.items():
        if value is None:
            continue
        rule = rules.get(name)
        decision = rule.decide(value, target) if rule is not None else tbl.unknown
        if decision.action == "refuse":
            return refusal_error(name, target, decision.reason)
    return None


def decision(door: str, kind: str, field: str) -> Rule | None:
    """The rule of one field (None: the table's ``unknown`` decision applies)."""
    tbl = _TABLES.get((door, kind))
    return tbl.rules.get(field) if tbl is not None else None


# --- helpers for value and capability cases ------------------------------------------------

def value_in(*values: Any) -> Test:
    """The value is one of ``values`` (e.g. the default that changes nothing)."""
    return lambda value, _target: value in values


def capability(flag: str) -> Test:
    """The catalog says the target's model has ``flag``."""
    return lambda _value, target: target.supports(flag) is True


def all_of(*tests: Test) -> Test:
    """Every test holds."""
    return lambda value, target: all(t(value, target) for t in tests)


# Each door's table lives beside its fields' meaning (Chat, embeddings, Responses, Messages).
from skyrelay.gateway.hub import fields_messages as _fields_messages  # noqa: E402
from skyrelay.gateway.hub import fields_openai as _fields_openai  # noqa: E402,F401
from skyrelay.gateway.hub import fields_responses as _fields_responses  # noqa: E402,F401
