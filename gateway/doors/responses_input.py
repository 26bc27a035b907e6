"""OpenAI Responses request -> the hub's canonical (Chat Completions) body, field by field.

:data:`DECISIONS` says, for every top-level field of ``POST /v1/responses``, what happens
to it on a target that *translates* (the canonical chat body goes to Bedrock Converse, an
OpenAI-compatible chat endpoint or Azure's classic path) and on one that *passes through*
(Azure OpenAI v1 and Bedrock's OpenAI-compatible endpoint speak the Responses API; only
the model and auth change). A field not listed is refused: nothing is dropped silently.

Conversation state is refused everywhere: the gateway keeps no responses (``store: true``,
``previous_response_id``, ``conversation``, ``background``) because a route falls back
across upstreams and a response id means something on one upstream only; clients send the
whole conversation as ``input`` items (``function_call`` / ``function_call_output``
included), which works on every target.

Example::

    chat = to_chat(responses_body)   # {"messages": [...], "tools": [...], ...} or 400
"""

from __future__ import annotations

from typing import Any, Literal

from skyrelay.gateway.errors import GatewayError

Decision = Literal["translate", "passthrough", "refuse"]
Rule = tuple[Decision, str]

_STATE: Rule = ("refuse", "the gateway keeps no responses: send the whole conversation as "
                          "input items (a response id would exist on one upstream only)")
_PASS: Rule = ("passthrough", "sent as is")
#: field -> what a translating target gets
_TRANSLATED: dict[str, Rule] = {
    "model": ("translate", "names the gateway route; the target's model is sent"),
    "input": ("translate", "items become chat messages: message, function_call, "
                           "function_call_output"),
    "instructions": ("translate", "becomes the first system message"),
    "tools": ("translate", "function tools become chat tools; other tool types are refused"),
    "tool_choice": ("translate", "auto | none | required | {type: function, name}"),
    "text": ("translate", "text.format becomes response_format, text.verbosity verbosity "
                          "(the chat door's decision for the target then applies)"),
    "max_output_tokens": ("translate", "becomes max_completion_tokens"),
    "temperature": ("translate", "sent as temperature"),
    "top_p": ("translate", "sent as top_p"),
    "parallel_tool_calls": ("translate", "sent as parallel_tool_calls (the chat door's "
                                         "decision for the target then applies)"),
    "stream": ("translate", "chat stream, rendered as Responses events"),
    "metadata": ("translate", "echoed in the response object; not sent upstream"),
    "user": ("translate", "sent as the chat field of the same name"),
    "safety_identifier": ("translate", "sent as the chat field of the same name"),
    "prompt_cache_key": ("translate", "sent as the chat field of the same name"),
    "service_tier": ("translate", "sent as the chat field of the same name"),
    "reasoning": ("translate", "reasoning.effort becomes reasoning_effort; a summary "
                               "cannot be rendered and is refused"),
    "truncation": ("translate", "'disabled' (the default) only; 'auto' is refused"),
    "store": ("translate", "false only; true is refused: the gateway keeps no responses"),
    "stream_options": ("translate", "include_obfuscation false only"),
    "include": ("refuse", "the translated answer has no encrypted reasoning, logprobs or "
                          "tool outputs to include"),
    "top_logprobs": ("refuse", "logprobs are not rendered by the translation"),
    "max_tool_calls": ("refuse", "the chat API has no cap on tool calls"),
    "prompt": ("refuse", "stored prompt templates exist on OpenAI's platform only"),
    "context_management": ("refuse", "no chat equivalent"),
    "moderation": ("refuse", "no chat equivalent"),
    "image": ("refuse", "no chat equivalent"),
    "access_programs": ("refuse", "no chat equivalent"),
    "prompt_cache_options": ("refuse", "no chat equivalent"),
    "prompt_cache_retention": ("refuse", "no chat equivalent"),
    "previous_response_id": _STATE, "conversation": _STATE, "background": _STATE,
    "background_options": _STATE,
}
#: what a passthrough target gets, where it is not "sent as is"
_PASSED: dict[str, Rule] = {
    "model": ("passthrough", "replaced by the target's model"),
    "store": ("passthrough", "false only; true is refused: the gateway keeps no responses"),
    "previous_response_id": _STATE, "conversation": _STATE, "background": _STATE,
    "background_options": _STATE,
}
#: field -> (on translating targets, on passthrough targets), each (decision, reason)
DECISIONS: dict[str, tuple[Rule, Rule]] = {
    name: (rule, _PASSED.get(name, _PASS)) for name, rule in _TRANSLATED.items()}

#: Chat fields that Responses fields map to one-to-one.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier",
         "prompt_cache_key", "service_tier")


def _bad(param: str, message: str, code: str = "invalid_request") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def refuse(field: str, kind: str, reason: str) -> GatewayError:
    """400 naming the field, the kind of target and why."""
    return _bad(field, f"'{field}' cannot be served by {kind} targets: {reason}.",
                code="unsupported_parameter")


def check_state(body: dict[str, Any]) -> None:
    """Refuse what needs a response store, on every target (see the module docstring)."""
    for name in ("previous_response_id", "conversation"):
        if body.get(name) is not None:
            raise refuse(name, "any", _STATE[1])
    if body.get("background"):
        raise refuse("background", "any", _STATE[1])
    if body.get("store") is True:
        raise refuse("store", "any", "the gateway keeps no responses; send store: false (or "
                                     "leave it out) and the whole conversation as input")
    for name in body:
        if name not in DECISIONS:
            raise _bad(name, f"Unknown parameter '{name}' for /v1/responses: the gateway "
                             "refuses fields it cannot decide on.", "unknown_parameter")


def _text_part(part: dict[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        if not isinstance(part.get("text"), str):
            raise _bad(f"{where}.text", f"{where}.text must be a string.")
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise refuse(f"{where}.file_id", "translating", "images are taken as image_url "
                         "(data: URL or https), not as uploaded files")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") not in (None, "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise refuse(f"{where}.type", "translating", f"content parts of type {kind!r} have no "
                 "chat equivalent")


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(where, f"{where} must be a string or an array of content parts.")
    parts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise _bad(f"{where}[{j}]", f"{where}[{j}] must be an object.")
        parts.append(_text_part(part, f"{where}[{j}]"))
    return parts


def _output_text(output: Any, where: str) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        texts = []
        for j, part in enumerate(output):
            if not isinstance(part, dict) or part.get("type") not in ("input_text",
                                                                     "output_text"):
                raise refuse(f"{where}[{j}]", "translating", "a function output is taken as "
                             "text (a string or input_text parts)")
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise _bad(where, f"{where} must be a string or an array of input_text parts.")


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _bad("instructions", "'instructions' must be a string.")
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise _bad("input", "'input' is required: a string or a non-empty array of items.")
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _bad(where, f"{where} must be an object.")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _bad(f"{where}.role", f"{where}.role must be user, assistant, system "
                           "or developer.")
            messages.append({"role": role,
                             "content": _content(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                if not isinstance(item.get(name), str):
                    raise _bad(f"{where}.{name}", f"{where}.{name} must be a string.")
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise _bad(f"{where}.call_id", f"{where}.call_id must be a string.")
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": _output_text(item.get("output"), f"{where}.output")})
        elif kind == "item_reference":
            raise refuse(f"{where}.type", "any", _STATE[1])
        else:
            raise refuse(f"{where}.type", "translating", f"input items of type {kind!r} "
                         "have no chat equivalent")
    return messages


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _bad("tools", "'tools' must be an array.")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise refuse(f"tools[{i}].type", "translating", f"tools of type {kind!r} run on "
                         "OpenAI's platform; only function tools translate")
        if not isinstance(tool.get("name"), str):
            raise _bad(f"tools[{i}].name", f"tools[{i}].name must be a string.")
        fn = {"name": tool["name"]}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                fn[key] = tool[key]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(
            choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise refuse("tool_choice", "translating", "only auto, none, required or a function "
                 "choice translate")


def _text(body: dict[str, Any], chat: dict[str, Any]) -> None:
    text = body.get("text")
    if text is None:
        return
    if not isinstance(text, dict):
        raise _bad("text", "'text' must be an object.")
    fmt = text.get("format")
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind == "json_schema":
            schema = {k: fmt[k] for k in ("name", "schema", "strict", "description")
                      if k in fmt}
            chat["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif kind == "json_object":
            chat["response_format"] = {"type": "json_object"}
        elif kind != "text":
            raise _bad("text.format.type", "text.format.type must be text, json_object or "
                       "json_schema.")
    elif fmt is not None:
        raise _bad("text.format", "text.format must be an object.")
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The canonical chat body for a (state-checked) Responses request, or 400."""
    for name, (decision, reason) in _TRANSLATED.items():
        if decision == "refuse" and body.get(name) not in (None, [], False):
            raise refuse(name, "translating", reason)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": _messages(body)}
    for name in _SAME:
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    tools = _tools(body)
    if tools is not None:
        chat["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        chat["tool_choice"] = choice
    _text(body, chat)
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        if reasoning.get("summary") is not None or reasoning.get("generate_summary"):
            raise refuse("reasoning.summary", "translating", "reasoning summaries cannot be "
                         "rendered by the translation")
        if reasoning.get("effort") is not None:
            chat["reasoning_effort"] = reasoning["effort"]
    elif reasoning is not None:
        raise _bad("reasoning", "'reasoning' must be an object.")
    if body.get("truncation") not in (None, "disabled"):
        raise refuse("truncation", "translating", "only 'disabled' translates: the gateway "
                     "does not drop input to fit a context window")
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_obfuscation"):
        raise refuse("stream_options.include_obfuscation", "translating",
                     "the translated stream carries no obfuscation padding")
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat
