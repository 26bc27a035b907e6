"""The decision table of the Anthropic Messages door (``POST /v1/messages``).

Only Claude on Amazon Bedrock serves it, by passthrough: InvokeModel takes the Messages
body with ``anthropic_version: "bedrock-2023-05-31"`` and without ``model``
(https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html).
Every field is refused on a Bedrock target whose model is not Claude (so a route with
such targets only is answered 400 naming ``model``); other target kinds have no table,
which the pipeline answers as "cannot serve this API". :func:`speaks_messages` is how the
dispatcher knows a Bedrock target speaks the API.

Example::

    fields.refusal("anthropic_messages", {"model": "r", "metadata": {}}, claude).param
    # "metadata"
"""

from __future__ import annotations

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.doors import anthropic_messages as door
from skyrelay.gateway.hub.fields import Case, Rule, passthrough, refuse, register, translate
from skyrelay.gateway.hub.fields_openai import STRUCTURED_OUTPUT_DOC

MESSAGES = "anthropic_messages"

_NOT_CLAUDE = refuse("the Anthropic Messages API is passed through to Claude models on "
                     "Bedrock only, and this target's model is not Claude")


def speaks_messages(target: TargetConfig) -> bool:
    """Whether ``target`` is Claude on Bedrock (``anthropic.claude-...`` or a profile such
    as ``eu.anthropic.claude-...``) served by Converse/InvokeModel.

    >>> from skyrelay.gateway.config import TargetPrice
    >>> speaks_messages(TargetConfig("k", "bedrock", "chat", "eu-west-1",
    ...     "eu.anthropic.claude-sonnet-4-20250514-v1:0", "", TargetPrice(1, 1), frozenset()))
    True
    """
    if target.cloud != "bedrock" or target.kind != "chat" or target.api == "openai":
        return False
    return "anthropic" in target.model.split(".")[:2]


def _claude(value: object, target: TargetConfig) -> bool:
    return speaks_messages(target)


def _structured_format(value: object, target: TargetConfig) -> bool:
    return (isinstance(value, dict) and set(value) == {"format"} and speaks_messages(target)
            and target.supports("structured_output") is True)


def _on_claude(decision_on_claude: object) -> Rule:
    return Rule(_NOT_CLAUDE, (Case("Claude on Bedrock", _claude,
                                   decision_on_claude),))


_RULES: dict[str, Rule] = {
    name: _on_claude(passthrough(f"{why} in the InvokeModel body"))
    for name, why in door.PASSTHROUGH.items()}
_RULES["model"] = _on_claude(translate("the target's model id goes in the InvokeModel "
                                       "path; the body has no model"))
_RULES["stream"] = _on_claude(translate("true: InvokeModelWithResponseStream, its chunks "
                                        "re-framed as Messages SSE events"))
_RULES.update({name: Rule(refuse(reason)) for name, reason in door.REFUSED.items()})
#: "For InvokeModel API with Anthropic Claude models, use the output_config.format request
#: field" (https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html), for
#: the models of https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-structured-outputs.html
#: (the catalog's structured_output flag).
_RULES["output_config"] = Rule(
    refuse("only output_config.format (structured outputs) is taken on Bedrock, and only for "
           "Claude models with structured outputs per the catalog (" + STRUCTURED_OUTPUT_DOC
           + ")"),
    (Case("only format, Claude with catalog: structured_output", _structured_format,
          passthrough("sent as is in the InvokeModel body")),))

register(MESSAGES, "bedrock", _RULES,
         unknown=refuse("not a Messages field the Bedrock Anthropic body takes"))
