"""OpenAI Responses request -> the hub's canonical (Chat Completions) body.

:func:`to_chat` converts what translates: ``input`` items (messages, ``function_call``,
``function_call_output``), ``instructions``, function ``tools``, ``tool_choice``,
``text.format`` / ``text.verbosity``, ``max_output_tokens``, ``reasoning.effort`` and the
fields of the same name. What is valid Responses but cannot be translated (a web-search
tool, an image given as an uploaded file, a reasoning item ...) is not converted:
:func:`problem` names it, and the decision table (``hub.fields_responses``) refuses the field
on translating targets with that reason, while targets that speak Responses get the
client's body unchanged. Shapes no Responses request may have are a 400 on every target.

Conversation state is refused everywhere (:func:`check_state`): the gateway keeps no
responses, because a route falls back across upstreams and a response id means something
on one upstream only; clients send the whole conversation as ``input`` items instead.

Example::

    check_state(body)                # 400 for store: true, previous_response_id ...
    chat = to_chat(body)             # {"messages": [...], "tools": [...], ...}
    problem("tools", body["tools"])  # None, or why they do not translate
"""

from __future__ import annotations

from typing import Any

from skyrelay.gateway.errors import GatewayError

#: Why state cannot be served (shared by the refusals and the decision table).
STATE_REASON = ("the gateway keeps no responses: send the whole conversation as input items "
                "(a response id would exist on one upstream only)")
#: Top-level fields that need a response store.
STATE_FIELDS = ("previous_response_id", "conversation", "background", "background_options")


class Untranslatable(Exception):
    """A valid Responses value with no chat equivalent: ``param`` and ``reason``."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(reason)
        self.param = param
        self.reason = reason


#: Chat fields that Responses fields map to one-to-one.
_SAME = ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier",
         "prompt_cache_key", "service_tier")


def _bad(param: str, message: str, code: str = "invalid_request") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def refuse(field: str, kind: str, reason: str) -> GatewayError:
    """400 naming the field, the kind of target and why."""
    return _bad(field, f"'{field}' cannot be served by {kind} targets: {reason}.",
                code="unsupported_parameter")


def _untranslatable(param: str, reason: str) -> Untranslatable:
    return Untranslatable(param, reason)


def check_state(body: dict[str, Any]) -> None:
    """Refuse what needs a response store, on every target (see the module docstring)."""
    for name in STATE_FIELDS:
        if body.get(name) not in (None, False):
            raise refuse(name, "any", STATE_REASON)
    if body.get("store") is True:
        raise refuse("store", "any", "the gateway keeps no responses; send store: false (or "
                                     "leave it out) and the whole conversation as input")


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
            raise _untranslatable(f"{where}.file_id", "images are taken as image_url "
                         "(data: URL or https), not as uploaded files")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") not in (None, "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise _untranslatable(f"{where}.type", f"content parts of type {kind!r} have no "
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
                raise _untranslatable(f"{where}[{j}]", "a function output is taken as "
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
            raise refuse(f"{where}.type", "any", STATE_REASON)
        else:
            raise _untranslatable(f"{where}.type", f"input items of type {kind!r} "
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
            raise _untranslatable(f"tools[{i}].type", f"tools of type {kind!r} run on "
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
    raise _untranslatable("tool_choice", "only auto, none, required or a function choice "
                          "translate")


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


def _reasoning(reasoning: Any) -> str | None:
    if not isinstance(reasoning, dict):
        raise _bad("reasoning", "'reasoning' must be an object.")
    if reasoning.get("summary") is not None or reasoning.get("generate_summary"):
        raise _untranslatable("reasoning.summary", "reasoning summaries cannot be rendered "
                              "by the translation")
    effort = reasoning.get("effort")
    return effort if isinstance(effort, str) else None


def problem(field: str, value: Any) -> str | None:
    """Why ``value`` of top-level ``field`` cannot be translated, or None.

    >>> problem("tools", [{"type": "web_search"}])[:14]
    'tools[0].type:'
    """
    try:
        if field == "input":
            _messages({"input": value})
        elif field == "tools":
            _tools({"tools": value})
        elif field == "tool_choice":
            _tool_choice(value)
        elif field == "reasoning":
            _reasoning(value)
        elif field == "truncation" and value not in (None, "disabled"):
            return "only 'disabled' translates: the gateway does not drop input to fit"
        elif (field == "stream_options" and isinstance(value, dict)
              and value.get("include_obfuscation")):
            return "include_obfuscation: the translated stream carries no obfuscation padding"
    except Untranslatable as err:
        return f"{err.param}: {err.reason}"
    except GatewayError:
        return None  # a shape error: parse answers it for every target
    return None


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The canonical chat body for a (state-checked) Responses request.

    Shape errors are a 400 (:class:`GatewayError`); a value that does not translate leaves
    its field out of the body (the decision table refuses it on translating targets).
    """
    chat: dict[str, Any] = {"model": body.get("model")}
    try:
        chat["messages"] = _messages(body)
    except Untranslatable:
        chat["messages"] = []
    for name in _SAME:
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    try:
        tools = _tools(body)
        if tools is not None:
            chat["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"))
        if choice is not None:
            chat["tool_choice"] = choice
        if body.get("reasoning") is not None:
            effort = _reasoning(body["reasoning"])
            if effort is not None:
                chat["reasoning_effort"] = effort
    except Untranslatable:
        pass
    _text(body, chat)
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat
