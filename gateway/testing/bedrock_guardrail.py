"""How the local Bedrock runtime plays a guardrail (Converse and ConverseStream).

A request with ``guardrailConfig`` naming a guardrail the fake knows (id -> version; others
get Bedrock's 400 ValidationException) is judged like a content filter would: a prompt
containing :data:`BLOCK_PROMPT` is blocked before the model runs, one containing
:data:`BLOCK_ANSWER` has its answer blocked; both end with
``stopReason: guardrail_intervened``, :data:`BLOCKED_TEXT` and, with ``trace`` enabled, the
input or output assessment that says which.

Example::

    where = verdict({"gr-1": "1"}, body)          # None, "prompt", "answer" or a 400
    if isinstance(where, str):
        return await intervene(request, "converse", body, where)
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from skyrelay.gateway.testing.bedrock_frames import event

#: Words that make a guardrail intervene on the prompt or on the answer.
BLOCK_PROMPT = "GUARDRAIL-BLOCK-PROMPT"
BLOCK_ANSWER = "GUARDRAIL-BLOCK-ANSWER"
BLOCKED_TEXT = "Blocked by the guardrail."


def verdict(guardrails: dict[str, str], body: dict[str, Any]) -> web.Response | str | None:
    """None (no intervention), "prompt"/"answer" (blocked there), or a 400 when the
    guardrail named is not one of ``guardrails`` (id -> version)."""
    config = body.get("guardrailConfig")
    if config is None:
        return None
    gid, version = config.get("guardrailIdentifier"), config.get("guardrailVersion")
    if guardrails.get(gid) != version:
        return web.json_response(
            {"message": f"The guardrail {gid} version {version} was not found."},
            status=400, headers={"x-amzn-errortype": "ValidationException"})
    text = json.dumps(body.get("messages", []))
    if BLOCK_PROMPT in text:
        return "prompt"
    return "answer" if BLOCK_ANSWER in text else None


async def intervene(request: web.Request, op: str, body: dict[str, Any],
                    where: str) -> web.StreamResponse:
    """The guardrail's answer to a request blocked at ``where`` (``prompt``/``answer``):
    Converse JSON, or ConverseStream frames when ``op`` is ``converse-stream``."""
    gid = body["guardrailConfig"]["guardrailIdentifier"]
    assessment = {gid: {"contentPolicy": {"filters": [{
        "type": "VIOLENCE", "confidence": "HIGH", "filterStrength": "HIGH",
        "action": "BLOCKED", "detected": True}]}}}
    trace: dict[str, Any] = {}
    if body["guardrailConfig"].get("trace") in ("enabled", "enabled_full"):
        trace = {"guardrail": {"inputAssessment": assessment} if where == "prompt"
                 else {"inputAssessment": {gid: {}}, "outputAssessments": {gid: [
                     assessment[gid]]}}}
    usage = {"inputTokens": 7, "outputTokens": 0 if where == "prompt" else 3,
             "totalTokens": 7 if where == "prompt" else 10}
    if op == "converse":
        answer: dict[str, Any] = {
            "output": {"message": {"role": "assistant", "content": [{"text": BLOCKED_TEXT}]}},
            "stopReason": "guardrail_intervened", "usage": usage,
            "metrics": {"latencyMs": 5}}
        if trace:
            answer["trace"] = trace
        return web.json_response(answer)
    resp = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
    await resp.prepare(request)
    metadata: dict[str, Any] = {"usage": usage, "metrics": {"latencyMs": 5}}
    if trace:
        metadata["trace"] = trace
    for frame in (event("messageStart", {"role": "assistant"}),
                  event("contentBlockDelta", {"contentBlockIndex": 0,
                                              "delta": {"text": BLOCKED_TEXT}}),
                  event("contentBlockStop", {"contentBlockIndex": 0}),
                  event("messageStop", {"stopReason": "guardrail_intervened"}),
                  event("metadata", metadata)):
        await resp.write(frame)
    await resp.write_eof()
    return resp
