"""The AWS API calls a synthesized Step Functions state machine makes, one per Task state
with an ``arn:aws:states:::<service>:<action>`` integration, as botocore input.

A ``"Key.$": "$.path"`` parameter takes its value from the state's input at run time; here
it is read from a sample input (the execution input the construct documents, plus what a
Catch puts under its ResultPath), so the call is validated with the value a real execution
passes, not with a made-up one.

Example::

    for call in state_machine_calls(templates, "us-east-1", {"job_name": "x-2026-01-01"}):
        print(call.origin, call.service, call.operation)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from aws_oracle import Call, member_names_from_pascal, operation_model
from cfn_placeholders import Resolver

_INTEGRATION = re.compile(
    r"^arn:aws:states:::(?:aws-sdk:)?(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)"
    r"(?P<pattern>\.sync(?::2)?|\.waitForTaskToken)?$")

#: Step Functions service names that differ from botocore's.
_SERVICES = {"states": "stepfunctions", "elasticmapreduce": "emr"}

#: The context object (``$$``) of a sample execution.
CONTEXT = {"Execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:sm:run-1",
                         "Name": "run-1"},
           "StateMachine": {"Name": "sm"}, "Task": {"Token": "token"}}


def json_path(path: str, document: Any) -> Any:
    """The value at a simple JSONPath (``$``, ``$.a.b``, ``$$.Execution.Name``)."""
    if path.startswith("States."):
        raise NotImplementedError(f"intrinsic function {path!r}: extend sfn_calls.json_path")
    root, rest = (CONTEXT, path[2:]) if path.startswith("$$") else (document, path[1:])
    value = root
    for part in filter(None, rest.split(".")):
        value = value[part]
    return value


def with_paths(params: Any, state_input: Any) -> Any:
    """``params`` with every ``"Key.$"`` replaced by ``"Key"`` and its path's value."""
    if isinstance(params, list):
        return [with_paths(v, state_input) for v in params]
    if not isinstance(params, dict):
        return params
    out = {}
    for key, value in params.items():
        if key.endswith(".$"):
            out[key[:-2]] = json_path(value, state_input)
        else:
            out[key] = with_paths(value, state_input)
    return out


def task_call(resource: str, params: Mapping[str, Any], state_input: Any,
              origin: str) -> Call:
    """The botocore call behind one Task state's ``Resource`` and ``Parameters``."""
    match = _INTEGRATION.match(resource)
    if not match:
        raise ValueError(f"{origin}: {resource!r} is not a Step Functions service integration")
    service = _SERVICES.get(match["service"], match["service"])
    operation = match["action"][:1].upper() + match["action"][1:]
    shape = operation_model(service, operation).input_shape
    concrete = with_paths(dict(params), state_input)
    return Call(service, operation, member_names_from_pascal(concrete, shape), origin)


def _states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):  # Parallel
            yield from _states(branch)
        if "Iterator" in state or "ItemProcessor" in state:  # Map
            yield from _states(state.get("ItemProcessor") or state["Iterator"])


def state_machine_calls(templates: Mapping[str, Mapping[str, Any]], region: str,
                        state_input: Any) -> Iterator[Call]:
    """Every service-integration call of every state machine in ``templates``."""
    resolver = Resolver(templates, region)
    for stack, template in templates.items():
        for logical_id, res in template.get("Resources", {}).items():
            if res["Type"] != "AWS::StepFunctions::StateMachine":
                continue
            props = res["Properties"]
            definition = json.loads(resolver.resolve(props["DefinitionString"], stack))
            for name, state in _states(definition):
                if state.get("Type") != "Task":
                    continue
                yield task_call(state["Resource"], state.get("Parameters", {}), state_input,
                                f"{stack}/{logical_id}/{name}")


def raw_tasks(templates: Mapping[str, Mapping[str, Any]], region: str
              ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(origin, resolved state) of every Task state, for the documentation rules."""
    resolver = Resolver(templates, region)
    for stack, template in templates.items():
        for logical_id, res in template.get("Resources", {}).items():
            if res["Type"] == "AWS::StepFunctions::StateMachine":
                definition = json.loads(resolver.resolve(res["Properties"]["DefinitionString"],
                                                         stack))
                for name, state in _states(definition):
                    if state.get("Type") == "Task":
                        yield f"{stack}/{logical_id}/{name}", dict(state)
