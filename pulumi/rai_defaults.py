"""Azure's default safety policy as data: RAI filter names, sources and thresholds.

No Pulumi import: the offline policy check (``skyrelay check``) and the CrossGuard pack read
these facts as well as the components that write RAI policies. Sources:
https://learn.microsoft.com/azure/ai-foundry/openai/concepts/default-safety-policies (the
default policy's filters), pulumi-azure-native ``RaiPolicyContentSource`` and
``ContentLevel`` (sources and levels), the RaiPolicies REST example PutRaiPolicy
(https://learn.microsoft.com/rest/api/aiservices/accountmanagement/rai-policies/create-or-update,
filter names).

Example::

    from skyrelay.pulumi.rai_defaults import weaker_than_default
    assert weaker_than_default([]) != []
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Built-in base policies an RAI policy can extend (Microsoft.DefaultV2 adds the prompt
#: shields and protected-material models to Microsoft.Default).
BASE_POLICIES = ("Microsoft.DefaultV2", "Microsoft.Default")
SEVERITY_LEVELS = ("Low", "Medium", "High")
#: Spec key -> the RAI API's filter name, for the four harm categories.
HARM_CATEGORIES = {"hate": "Hate", "sexual": "Sexual", "violence": "Violence",
                   "self_harm": "Selfharm"}
SOURCES = {"prompt": "Prompt", "completion": "Completion"}
OFF = "off"
#: The binary detection models: API name -> the source it runs on.
JAILBREAK = "Jailbreak"
INDIRECT_ATTACK = "Indirect Attack"
PROTECTED_TEXT = "Protected Material Text"
PROTECTED_CODE = "Protected Material Code"
DETECTIONS = {JAILBREAK: "Prompt", INDIRECT_ATTACK: "Prompt", PROTECTED_TEXT: "Completion",
              PROTECTED_CODE: "Completion"}
#: What Azure's default policy filters the harm categories at.
DEFAULT_SEVERITY = "Medium"



def weaker_than_default(filters: list[Mapping[str, Any]]) -> list[str]:
    """What a policy's ``contentFilters`` (engine camelCase) leave out of Azure's default.

    Each harm category must be enabled and blocking at ``Low`` or ``Medium`` on prompts and
    completions; jailbreak, indirect attack and protected material (text, code) enabled.
    """
    by_key = {(f.get("name"), f.get("source")): f for f in filters}
    gaps: list[str] = []
    for source in SOURCES.values():
        for name in HARM_CATEGORIES.values():
            f = by_key.get((name, source))
            if f is None or not f.get("enabled") or not f.get("blocking"):
                gaps.append(f"{name} on {source.lower()}s is not filtered (blocking)")
            elif f.get("severityThreshold") not in ("Low", DEFAULT_SEVERITY):
                gaps.append(f"{name} on {source.lower()}s is filtered at "
                            f"{f.get('severityThreshold')}, above the default Medium")
    for name, source in DETECTIONS.items():
        f = by_key.get((name, source))
        if f is None or not f.get("enabled"):
            gaps.append(f"{name} detection on {source.lower()}s is off")
    return gaps
