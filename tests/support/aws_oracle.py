"""The oracle for AWS API calls: botocore's bundled service models and its ParamValidator.

Every AWS API call the toolkit generates (Step Functions task parameters, the custom
resource's Bedrock and SSM calls, the gateway's Bedrock runtime requests) is checked here
against the input shape of the operation in botocore's own service model, offline.

botocore's ParamValidator checks types, required members, unknown members, unions and the
``min`` constraints. It deliberately leaves ``max``, ``pattern`` and ``enum`` to the service;
:class:`StrictParamValidator` adds those three, so a value the service would refuse with a
ValidationException is refused here too.

Example::

    from aws_oracle import validate_call
    errors = validate_call("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t",
                                              "Message": "hi"})
    assert errors == []
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator, ValidationErrors


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    """The bundled model of one operation (``("bedrock", "CreateModelCustomizationJob")``)."""
    return _session().get_service_model(service).operation_model(operation)


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    # Service-model patterns are Java regexes; the few Python cannot compile (possessive
    # quantifiers, \p{...} classes) are left to the service rather than guessed at.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


class StrictParamValidator(ParamValidator):  # type: ignore[misc]
    """botocore's validator plus the model's ``max``, ``pattern`` and ``enum`` constraints."""

    VALIDATED_METADATA_ATTRS = ParamValidator.VALIDATED_METADATA_ATTRS | {
        "max", "pattern", "enum"}

    def _shape_has_constraints(self, shape: Shape) -> bool:
        return bool(super()._shape_has_constraints(shape) or getattr(shape, "enum", None))

    @staticmethod
    def _too_big(value: float, shape: Shape, errors: ValidationErrors, name: str,
                 what: str) -> None:
        if "max" in shape.metadata and value > shape.metadata["max"]:
            errors.report(name, "too large", param=value, what=what,
                          max_allowed=shape.metadata["max"])

    def _validate_string(self, param: Any, shape: Shape, errors: ValidationErrors,
                         name: str) -> None:
        before = len(errors._errors)
        super()._validate_string(param, shape, errors, name)
        if len(errors._errors) != before or not isinstance(param, str):
            return
        self._too_big(len(param), shape, errors, name, "length")
        enum = getattr(shape, "enum", None)
        if enum and param not in enum:
            errors.report(name, "not in enum", param=param, valid_values=list(enum))
        pattern = shape.metadata.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        # botocore's bundled models carry the patterns without their anchors: the API
        # references print them anchored (TrainingJobName: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$),
        # and the services match the whole value, so the oracle does too.
        if compiled is not None and compiled.fullmatch(param) is None:
            errors.report(name, "pattern mismatch", param=param, pattern=pattern)

    def _validate_list(self, param: Any, shape: Shape, errors: ValidationErrors,
                       name: str) -> None:
        super()._validate_list(param, shape, errors, name)
        if isinstance(param, list | tuple):
            self._too_big(len(param), shape, errors, name, "length")

    def _validate_integer(self, param: Any, shape: Shape, errors: ValidationErrors,
                          name: str) -> None:
        super()._validate_integer(param, shape, errors, name)
        if isinstance(param, int):
            self._too_big(param, shape, errors, name, "value")

    _validate_long = _validate_integer


def _format(errors: ValidationErrors) -> list[str]:
    out = []
    for kind, name, extra in errors._errors:
        if kind in ("too large", "not in enum", "pattern mismatch"):
            out.append(f"{name.lstrip('.') or 'input'}: {kind} {extra}")
        else:
            out.append(errors._format_error((kind, name, extra)))
    return out


@dataclass
class Call:
    """One generated AWS API call: where it comes from, and its parameters in Python types."""

    service: str
    operation: str
    params: dict[str, Any]
    origin: str
    errors: list[str] = field(default_factory=list)


def validate_call(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Problems of ``params`` as input of ``service``'s ``operation``; empty when valid."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        return [] if not params else [f"{operation} takes no parameters, got {sorted(params)}"]
    return _format(StrictParamValidator().validate(params, shape))


def check(call: Call) -> Call:
    """``call`` with its validation errors filled in."""
    call.errors = validate_call(call.service, call.operation, call.params)
    return call


def member_names_from_pascal(params: Any, shape: Shape) -> Any:
    """Step Functions names an API's members in PascalCase (``"BaseModelIdentifier"``) for
    every service, also for APIs whose JSON members are camelCase (Bedrock's
    ``baseModelIdentifier``); Step Functions converts them. Map each key to its member by
    the shape, so map keys (hyperparameter names) are left alone."""
    if isinstance(shape, StructureShape) and isinstance(params, dict):
        members = shape.members
        lowered = {name[:1].lower() + name[1:]: name for name in members}
        out = {}
        for key, value in params.items():
            name = key if key in members else lowered.get(key[:1].lower() + key[1:], key)
            out[name] = member_names_from_pascal(value, members[name]) if name in members \
                else value
        return out
    if shape.type_name == "list" and isinstance(params, list):
        return [member_names_from_pascal(v, shape.member) for v in params]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(params, dict):
        return {k: member_names_from_pascal(v, shape.value)  # type: ignore[attr-defined]
                for k, v in params.items()}
    return params


def from_wire_json(value: Any, shape: Shape) -> Any:
    """A JSON request body as botocore's Python input: blob members are base64 text on the
    wire (restJson), bytes for botocore, so they are decoded here. Everything else in the
    Bedrock runtime bodies (strings, numbers, documents) is the same in both forms."""
    if shape.type_name == "blob":
        if isinstance(value, str):
            return base64.b64decode(value, validate=True)
        return value
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        if shape.is_document_type:
            return value
        return {k: from_wire_json(v, shape.members[k]) if k in shape.members else v
                for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [from_wire_json(v, shape.member) for v in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: from_wire_json(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    return value
