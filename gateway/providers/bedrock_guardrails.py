"""Bedrock Guardrails on Converse calls: which guardrail a request gets, and what a block is.

The spec's content filters are also Bedrock Guardrails (one per filter and Bedrock region,
``constructs/guardrails.py``); the gateway config names them per tenant and route
(``tenants.<t>.content_filter``, ``routes.<r>.content_filter``; the tenant's wins) and
carries their deployed ids (``guardrails``: filter -> region -> identifier, version).

The request pipeline calls :func:`use_guardrails` once it knows tenant and route; the
choice rides in a context variable (the request's task and the tasks it starts see it, no
other request does), so no request dict carries it to an upstream that would choke on it.
The Bedrock provider asks :func:`guardrail_config` for the Converse ``guardrailConfig``
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailConfiguration.html;
ConverseStream takes GuardrailStreamConfiguration, which adds ``streamProcessingMode``).

An intervention is ``stopReason: guardrail_intervened``
(https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-use-converse-api.html).
As on Azure, a blocked *prompt* is a 400 ``content_filter`` error (:func:`blocked_prompt`
tells it apart with the guardrail trace) and a blocked *answer* ends with
``finish_reason: content_filter`` (``bedrock_translate.FINISH``).

Example::

    use_guardrails(config, tenant="eu-support", route="chat-eu")
    body["guardrailConfig"] = guardrail_config(target, stream=False)   # or None
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from skyrelay.gateway.config import GatewayConfig, TargetConfig
from skyrelay.gateway.providers.base import ProviderError

INTERVENED = "guardrail_intervened"


@dataclass(frozen=True)
class Chosen:
    """The content filter a request runs under, and its guardrail per region."""

    filter: str
    regions: Mapping[str, Mapping[str, str]]


_CHOSEN: ContextVar[Chosen | None] = ContextVar("skyrelay_guardrail", default=None)


def choose(config: GatewayConfig, tenant: str, route: str) -> Chosen | None:
    """The filter of ``tenant`` (else of ``route``) with its guardrails, or None."""
    filters = config.extra.get("content_filters") or {}
    name = (filters.get("tenants") or {}).get(tenant) or (filters.get("routes") or {}).get(route)
    if not name:
        return None
    return Chosen(name, (config.extra.get("guardrails") or {}).get(name) or {})


def use_guardrails(config: GatewayConfig, tenant: str, route: str) -> None:
    """Record the current request's guardrail choice (see the module docstring)."""
    _CHOSEN.set(choose(config, tenant, route))


def guardrail_config(target: TargetConfig, *, stream: bool) -> dict[str, Any] | None:
    """The ``guardrailConfig`` for a Converse(Stream) call to ``target``, or None.

    A filtered request with no guardrail in the target's region is refused on that target
    (fail closed; ``auth`` so the router tries the next target, as for a target this
    gateway may not use).
    """
    chosen = _CHOSEN.get()
    if chosen is None:
        return None
    guardrail = chosen.regions.get(target.region)
    if not guardrail or not guardrail.get("identifier") or not guardrail.get("version"):
        raise ProviderError("auth", 503, f"{target.key}: content filter {chosen.filter!r} has "
                            f"no Bedrock guardrail in {target.region} in this gateway's "
                            "config (deploy the Bedrock stack there)",
                            code="guardrail_not_configured", retryable=True)
    out: dict[str, Any] = {"guardrailIdentifier": guardrail["identifier"],
                           "guardrailVersion": str(guardrail["version"]), "trace": "enabled"}
    if stream:
        # Evaluate each chunk before it is sent: nothing blocked reaches the client.
        out["streamProcessingMode"] = "sync"
    return out


def blocked_prompt(data: Mapping[str, Any]) -> bool:
    """True when a Converse answer says the guardrail blocked the *prompt* (its input
    assessment holds a BLOCKED action; without a trace: intervened with no output tokens)."""
    if data.get("stopReason") != INTERVENED:
        return False
    trace = (data.get("trace") or {}).get("guardrail")
    if isinstance(trace, dict) and "inputAssessment" in trace:
        return _has_block(trace.get("inputAssessment"))
    usage = data.get("usage") or {}
    return int(usage.get("outputTokens") or 0) == 0


def prompt_blocked_error(target: TargetConfig) -> ProviderError:
    """The client's answer to a blocked prompt: Azure's shape (400, ``content_filter``)."""
    chosen = _CHOSEN.get()
    name = chosen.filter if chosen else "the content filter"
    return ProviderError("content_filter", 400, f"The prompt was blocked by content filter "
                         f"{name!r} (Bedrock guardrail on {target.key}).",
                         code="content_filter")


def _has_block(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("action") == "BLOCKED" or any(_has_block(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_block(v) for v in value)
    return False
