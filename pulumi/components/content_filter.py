"""Content-filter (RAI) policies at least as strict as Azure's default safety policy.

Azure's default safety policy for text models filters hate, sexual, violence and self-harm
at ``Medium`` on prompts and completions, detects jailbreak attempts (prompt shields) on
prompts and protected material (text and code) on completions
(https://learn.microsoft.com/azure/ai-foundry/openai/concepts/default-safety-policies);
indirect (document-borne) prompt attacks are the other prompt shield
(https://learn.microsoft.com/azure/ai-services/openai/concepts/content-filter-annotations:
"optional models can be set to annotate mode ... or filter mode"). A
:class:`ContentFilterPolicy` turns all of them on by default; each can be switched in the
spec. The filter names and sources are the RaiPolicies API's
(``RaiPolicyContentFilterArgs(name, source, enabled, blocking, severity_threshold)``,
sources ``Prompt``/``Completion`` from pulumi-azure-native's ``RaiPolicyContentSource``;
names as in the REST example PutRaiPolicy,
https://learn.microsoft.com/rest/api/aiservices/accountmanagement/rai-policies/create-or-update).

Example::

    from skyrelay.pulumi.components.content_filter import ContentFilterPolicy
    strict = ContentFilterPolicy(name="strict", severity_threshold="Low",
                                 harm={"violence": {"completion": "Medium"}})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skyrelay.pulumi.components.validation import fail, one_of
from skyrelay.pulumi.rai_defaults import (
    BASE_POLICIES,
    DEFAULT_SEVERITY,
    DETECTIONS,
    HARM_CATEGORIES,
    INDIRECT_ATTACK,
    JAILBREAK,
    OFF,
    PROTECTED_CODE,
    PROTECTED_TEXT,
    SEVERITY_LEVELS,
    SOURCES,
)

__all__ = ["SEVERITY_LEVELS", "ContentFilterPolicy", "rai_policy_properties"]

_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class ContentFilterPolicy:
    """One RAI policy: harm thresholds per category and source, and the detection models.

    ``severity_threshold`` applies to all four harm categories on prompts and completions;
    ``harm`` overrides single ones (``{"violence": {"completion": "High"}}``, ``"off"``
    disables one). ``blocking`` False only annotates. ``jailbreak_detection``,
    ``indirect_attack_detection``, ``protected_material_text`` and
    ``protected_material_code`` switch the detection models.

    Example::

        ContentFilterPolicy(name="strict", severity_threshold="Low", blocking=True)
    """

    name: str
    base_policy: str = "Microsoft.DefaultV2"
    severity_threshold: str = DEFAULT_SEVERITY
    blocking: bool = True
    harm: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    jailbreak_detection: bool = True
    indirect_attack_detection: bool = True
    protected_material_text: bool = True
    protected_material_code: bool = True

    def __post_init__(self) -> None:
        where = f"content filter {self.name!r}"
        if not isinstance(self.name, str) or not _POLICY_NAME.match(self.name):
            raise fail(where, "the name must be 1-64 letters, digits, '_' or '-'")
        one_of(f"{where}: base_policy", self.base_policy, BASE_POLICIES)
        one_of(f"{where}: severity_threshold", self.severity_threshold, SEVERITY_LEVELS)
        for category, sources in self.harm.items():
            one_of(f"{where}: harm", category, tuple(HARM_CATEGORIES))
            for source, level in sources.items():
                one_of(f"{where}: harm.{category}", source, tuple(SOURCES))
                one_of(f"{where}: harm.{category}.{source}", level, (*SEVERITY_LEVELS, OFF))

    def threshold(self, category: str, source: str) -> str:
        """The level ``category`` is filtered at on ``source`` (``"off"``: not filtered)."""
        return self.harm.get(category, {}).get(source, self.severity_threshold)

    def filters(self) -> list[dict[str, Any]]:
        """The ``contentFilters`` entries, in the RAI API's field names (snake_case)."""
        out: list[dict[str, Any]] = []
        for source_key, source in SOURCES.items():
            for key, api_name in HARM_CATEGORIES.items():
                level = self.threshold(key, source_key)
                entry: dict[str, Any] = {"name": api_name, "source": source,
                                         "enabled": level != OFF,
                                         "blocking": self.blocking and level != OFF}
                if level != OFF:
                    entry["severity_threshold"] = level
                out.append(entry)
        switches = {JAILBREAK: self.jailbreak_detection,
                    INDIRECT_ATTACK: self.indirect_attack_detection,
                    PROTECTED_TEXT: self.protected_material_text,
                    PROTECTED_CODE: self.protected_material_code}
        for api_name, source in DETECTIONS.items():
            on = switches[api_name]
            out.append({"name": api_name, "source": source, "enabled": on,
                        "blocking": self.blocking and on})
        return out


def rai_policy_properties(policy: ContentFilterPolicy) -> Any:
    """The ``RaiPolicyPropertiesArgs`` for a :class:`ContentFilterPolicy`."""
    from pulumi_azure_native import cognitiveservices

    return cognitiveservices.RaiPolicyPropertiesArgs(
        base_policy_name=policy.base_policy, mode="Default",
        content_filters=[cognitiveservices.RaiPolicyContentFilterArgs(**f)
                         for f in policy.filters()])
