"""CloudFormation values with every Ref / Fn::GetAtt / Fn::ImportValue replaced by a
placeholder of the shape the real value has at deploy time (a bucket name, an ARN, a
subnet id), so a synthesized API call can be validated against the service model.

Example::

    resolver = Resolver(templates, region="us-east-1")
    resolver.resolve({"Fn::GetAtt": ["JobRole", "Arn"]}, "acme-ai-us-east-1-fine-tuning")
    # 'arn:aws:iam::123456789012:role/JobRole'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

ACCOUNT = "123456789012"


def _hex(logical_id: str, n: int = 17) -> str:
    return hashlib.sha256(logical_id.encode()).hexdigest()[:n]


def _uuid(logical_id: str) -> str:
    h = _hex(logical_id, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


Placeholder = Callable[[str, str], str]  # (logical id, region) -> value

#: What ``Ref`` returns per resource type (CloudFormation's "Return values" of each type).
REF: Mapping[str, Placeholder] = {
    "AWS::S3::Bucket": lambda lid, r: f"bucket-{_hex(lid, 12)}",
    "AWS::KMS::Key": lambda lid, r: _uuid(lid),
    "AWS::EC2::SecurityGroup": lambda lid, r: f"sg-{_hex(lid)}",
    "AWS::EC2::Subnet": lambda lid, r: f"subnet-{_hex(lid)}",
    "AWS::EC2::VPC": lambda lid, r: f"vpc-{_hex(lid)}",
    "AWS::SNS::Topic": lambda lid, r: f"arn:aws:sns:{r}:{ACCOUNT}:{lid}",
    "AWS::Logs::LogGroup": lambda lid, r: f"/skyrelay/{lid}",
    "AWS::IAM::Role": lambda lid, r: lid[:64],
    "AWS::Lambda::Function": lambda lid, r: lid[:64],
    "AWS::StepFunctions::StateMachine": lambda lid, r: (
        f"arn:aws:states:{r}:{ACCOUNT}:stateMachine:{lid}"),
}

#: What ``Fn::GetAtt`` returns per (resource type, attribute).
GETATT: Mapping[tuple[str, str], Placeholder] = {
    ("AWS::IAM::Role", "Arn"): lambda lid, r: f"arn:aws:iam::{ACCOUNT}:role/{lid[:64]}",
    ("AWS::KMS::Key", "Arn"): lambda lid, r: f"arn:aws:kms:{r}:{ACCOUNT}:key/{_uuid(lid)}",
    ("AWS::S3::Bucket", "Arn"): lambda lid, r: f"arn:aws:s3:::bucket-{_hex(lid, 12)}",
    ("AWS::EC2::SecurityGroup", "GroupId"): lambda lid, r: f"sg-{_hex(lid)}",
    ("AWS::Logs::LogGroup", "Arn"): lambda lid, r: (
        f"arn:aws:logs:{r}:{ACCOUNT}:log-group:/skyrelay/{lid}:*"),
    ("AWS::Lambda::Function", "Arn"): lambda lid, r: (
        f"arn:aws:lambda:{r}:{ACCOUNT}:function:{lid[:64]}"),
}


class Resolver:
    """Resolves the intrinsic functions of the templates of one app (``{stack: template}``)."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], region: str) -> None:
        self.templates = templates
        self.region = region
        self.exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in template.get("Outputs", {}).values():
                name = (output.get("Export") or {}).get("Name")
                if isinstance(name, str):
                    self.exports[name] = (stack, output["Value"])

    def _pseudo(self, name: str, stack: str) -> str:
        return {"AWS::Partition": "aws", "AWS::Region": self.region,
                "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": stack}[name]

    def _type(self, stack: str, logical_id: str) -> str:
        return str(self.templates[stack]["Resources"][logical_id]["Type"])

    def resolve(self, value: Any, stack: str) -> Any:
        """``value`` of template ``stack`` with its intrinsic functions resolved; a function
        or a resource type this resolver does not know raises KeyError (never a guess)."""
        if isinstance(value, list):
            return [self.resolve(v, stack) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                if arg.startswith("AWS::"):
                    return self._pseudo(arg, stack)
                return REF[self._type(stack, arg)](arg, self.region)
            if fn == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return GETATT[(self._type(stack, logical_id), attribute)](logical_id,
                                                                          self.region)
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p, stack)) for p in parts)
            if fn == "Fn::ImportValue":
                exporter, exported = self.exports[self.resolve(arg, stack)]
                return self.resolve(exported, exporter)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items, stack)[int(index)]
            if fn.startswith("Fn::") or fn == "Condition":
                raise KeyError(f"intrinsic function {fn} is not supported by the resolver")
        return {k: self.resolve(v, stack) for k, v in value.items()}
