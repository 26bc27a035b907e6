"""Every Bedrock runtime request the gateway builds, validated against botocore's model.

The gateway's translation and provider tests (tests/gateway/providers) are its corpus of
requests: they are run once, in a child pytest, with a recorder plugin
(tests/support/bedrock_request_recorder.py) around the public translation function and the
provider's request method. Each recorded Converse body is validated as the input of both
Converse and ConverseStream (the gateway sends the same body to both), each request that
reached the local Bedrock upstream as the operation it was sent to, and each InvokeModel
body against the documented Titan embeddings schema as well.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_doc_rules import doc_problems
from aws_oracle import Call, check, from_wire_json, operation_model

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "tests" / "gateway" / "providers"
#: Any model id the translation corpus may be sent to; the wire records carry their own.
MODEL_ID = "amazon.nova-pro-v1:0"
OPERATIONS = {"converse": "Converse", "converse-stream": "ConverseStream",
              "invoke": "InvokeModel",
              # Claude's Messages body streamed (the Anthropic Messages door's passthrough)
              "invoke-with-response-stream": "InvokeModelWithResponseStream"}
#: InvokeModel operations: the body is model-specific JSON, sent as bytes.
BODY_AS_BYTES = ("invoke", "invoke-with-response-stream")


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("bedrock") / "requests.jsonl"
    env = {**os.environ, "SKYRELAY_RECORD_BEDROCK": str(out)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "bedrock_request_recorder",
         "-p", "no:cacheprovider", str(CORPUS)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def converse_input(operation: str, model: str, body: dict[str, Any]) -> dict[str, Any]:
    # The wire body is JSON (image bytes base64 text); botocore validates Python input
    # (image bytes as bytes): from_wire_json converts by the shape.
    shape = operation_model("bedrock-runtime", operation).input_shape
    return {"modelId": model, **from_wire_json(body, shape)}


def calls_of(records: list[dict[str, Any]]) -> list[Call]:
    calls, seen = [], set()
    for r in records:
        key = json.dumps([r["kind"], r.get("op"), r.get("model"), r["body"]], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        if r["kind"] == "translation":
            for op in ("Converse", "ConverseStream"):
                calls.append(Call("bedrock-runtime", op,
                                  converse_input(op, MODEL_ID, r["body"]), "translation"))
        elif r["op"] in BODY_AS_BYTES:
            params = {"modelId": r["model"], "body": json.dumps(r["body"]).encode(),
                      "contentType": "application/json"}
            if r.get("accept"):
                params["accept"] = r["accept"]
            calls.append(Call("bedrock-runtime", OPERATIONS[r["op"]], params, "wire"))
        else:
            op = OPERATIONS[r["op"]]
            calls.append(Call("bedrock-runtime", op, converse_input(op, r["model"], r["body"]),
                              "wire"))
    return calls


def test_every_request_the_gateway_builds_is_valid(records: list[dict[str, Any]],
                                                   record_property: Any) -> None:
    calls = calls_of(records)
    bad = [(c.operation, c.params, check(c).errors + doc_problems(c)) for c in calls
           if check(c).errors or doc_problems(c)]
    assert bad == []
    ops = {c.operation for c in calls}
    assert ops == set(OPERATIONS.values())
    # The corpus exercises what the translation does: images, tools, tool results, system.
    bodies = [r["body"] for r in records if r["kind"] == "translation"]
    text = json.dumps(bodies)
    for feature in ('"image"', '"toolSpec"', '"toolResult"', '"toolUse"', '"system"',
                    '"inferenceConfig"'):
        assert feature in text, feature
    record_property("validated_bedrock_requests", len(calls))
    print(f"service-model validation: {len(calls)} Bedrock runtime requests "
          f"({len(records)} recorded, duplicates merged)")


def first(records: list[dict[str, Any]], needle: str) -> dict[str, Any]:
    return copy.deepcopy(next(r["body"] for r in records
                              if r["kind"] == "translation" and needle in json.dumps(r)))


@pytest.mark.parametrize(("needle", "break_it", "expected"), [
    ('"text"', lambda b: b["messages"][0].update(role="robot"), "not in enum"),
    ('"text"', lambda b: b["messages"][0].update(content=[{"txt": "hi"}]), "Unknown parameter"),
    ('"toolSpec"', lambda b: b["toolConfig"]["tools"][0]["toolSpec"].pop("name"),
     'Missing required parameter'),
    ('"inferenceConfig"', lambda b: b["inferenceConfig"].update(maxTokens="many"),
     "Invalid type"),
    ('"image"', lambda b: next(
        p for m in b["messages"] for p in m["content"] if "image" in p)["image"].update(
        format="bmp"), "not in enum"),
])
def test_a_broken_request_fails_the_validation(records: list[dict[str, Any]], needle: str,
                                               break_it: Any, expected: str) -> None:
    body = first(records, needle)
    good = Call("bedrock-runtime", "Converse", converse_input("Converse", MODEL_ID, body), "x")
    assert check(good).errors == []
    break_it(body)
    bad = Call("bedrock-runtime", "Converse", converse_input("Converse", MODEL_ID, body), "x")
    errors = check(bad).errors
    assert any(expected in e for e in errors), errors


def test_a_broken_embeddings_body_fails(records: list[dict[str, Any]]) -> None:
    wire = next(r for r in records
                if r.get("op") == "invoke" and "titan-embed-text-v2" in r.get("model", ""))
    body = {**wire["body"], "dimensions": 300, "input": "x"}
    call = Call("bedrock-runtime", "InvokeModel", {
        "modelId": "amazon.titan-embed-text-v2:0", "body": json.dumps(body).encode(),
        "contentType": "application/json"}, "x")
    assert check(call).errors == []  # the model knows the body only as bytes
    problems = doc_problems(call)
    assert any("dimensions 300" in p for p in problems), problems
    assert any("unknown body fields ['input']" in p for p in problems), problems
