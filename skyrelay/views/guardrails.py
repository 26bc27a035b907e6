"""One content filter, two clouds: the spec's ``content_filters`` as Bedrock Guardrail filters.

Azure's severity threshold names the *lowest* severity that is filtered ("Level at which
content is filtered", RaiPolicyContentFilter.severityThreshold,
https://learn.microsoft.com/javascript/api/@azure/arm-cognitiveservices/raipolicycontentfilter;
the configurability table of
https://learn.microsoft.com/azure/ai-services/openai/concepts/content-filter: ``Low``
filters low, medium and high, ``Medium`` medium and high, ``High`` only high). A Bedrock
filter *strength* names how much is filtered: ``HIGH`` blocks content classified with LOW,
MEDIUM or HIGH confidence, ``MEDIUM`` MEDIUM and HIGH, ``LOW`` only HIGH, ``NONE`` nothing
(https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-content-filters-overview.html,
"Filter strength"). So the scales map reversed:

==================  ========================
Azure threshold     Bedrock strength
==================  ========================
Low                 HIGH
Medium              MEDIUM
High                LOW
off                 NONE
==================  ========================

Categories: hate, sexual and violence exist on both. Azure's self-harm has no Bedrock
category; Bedrock's INSULTS and MISCONDUCT have no Azure category and take the filter's
``severity_threshold`` (at least as strict as the Azure side). Azure's jailbreak and
indirect-attack prompt shields map to Bedrock's PROMPT_ATTACK (prompts only; its answer
strength is always NONE). Protected material (text, code) has no Bedrock content filter:
:data:`NOT_ON_BEDROCK` lists what does not carry over, and ``plan`` says so.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.guardrails import guardrail_filters
    spec = load_spec("examples/platform.yaml")
    print(guardrail_filters(spec.azure.content_filters[0]))
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay.spec.models import ContentFilter, Spec

#: Azure severity threshold (or ``off``) -> Bedrock filter strength (see the table above).
STRENGTH = {"Low": "HIGH", "Medium": "MEDIUM", "High": "LOW", "off": "NONE"}
#: Spec harm category -> Bedrock content filter type (self_harm has none).
CATEGORY = {"hate": "HATE", "sexual": "SEXUAL", "violence": "VIOLENCE"}
#: Bedrock categories without an Azure counterpart: they take ``severity_threshold``.
BEDROCK_ONLY = ("INSULTS", "MISCONDUCT")
#: Parts of a content filter that have no Bedrock Guardrail content filter.
NOT_ON_BEDROCK = ("self_harm", "protected_material_text", "protected_material_code")


@dataclass(frozen=True)
class GuardrailFilter:
    """One Bedrock content filter: type, prompt and answer strength, blocking or not."""

    type: str
    input_strength: str
    output_strength: str
    block: bool


def guardrail_filters(f: ContentFilter) -> list[GuardrailFilter]:
    """The Bedrock content filters of one spec content filter (see the module docstring)."""
    overrides = f.harm_overrides()
    base = STRENGTH[f.severity_threshold]
    out = []
    for category, bedrock_type in CATEGORY.items():
        own = overrides.get(category, {})
        out.append(GuardrailFilter(
            bedrock_type, STRENGTH[own.get("prompt", f.severity_threshold)],
            STRENGTH[own.get("completion", f.severity_threshold)], f.blocking))
    out += [GuardrailFilter(t, base, base, f.blocking) for t in BEDROCK_ONLY]
    if f.jailbreak_detection or f.indirect_attack_detection:
        # Prompt attacks are judged at the strictest strength: the shields are on/off.
        out.append(GuardrailFilter("PROMPT_ATTACK", "HIGH", "NONE", f.blocking))
    return out


def guardrail_name(platform: str, filter_name: str) -> str:
    """The guardrail's name (Bedrock: 1-50 of ``[0-9a-zA-Z-_]``)."""
    return f"{platform}-{filter_name}"[:50]


def bedrock_regions(spec: Spec) -> list[str]:
    """The regions that use Bedrock (have models): each gets every content filter's
    guardrail."""
    if not spec.aws:
        return []
    return [r for r, cfg in spec.aws.regions.items() if cfg.bedrock_models]


def filters_by_name(spec: Spec) -> dict[str, ContentFilter]:
    """The spec's content filters by name."""
    return {f.name: f for f in (spec.azure.content_filters if spec.azure else ())}
