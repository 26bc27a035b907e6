"""CloudFormation values as readable text, for assertions on synthesized templates.

Example::

    from cfn_text import render
    render({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}]]})  # 'arn:${AWS::Partition}'
"""

from __future__ import annotations

from typing import Any


def render(value: Any) -> Any:
    """Render Fn::Join / Ref / Fn::GetAtt as readable strings (``${AWS::AccountId}``,
    ``${Bucket.Arn}``) so tests compare plain text; other values pass through."""
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(str(render(p)) for p in parts)
        if "Ref" in value:
            return "${" + value["Ref"] + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        if "Fn::ImportValue" in value:
            return "${Import:" + str(render(value["Fn::ImportValue"])) + "}"
        if "Fn::GetStackOutput" in value:  # a weak cross-stack reference (CDK feature flag)
            ref = value["Fn::GetStackOutput"]
            return "${Import:" + f"{ref['StackName']}:{ref['OutputName']}" + "}"
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value
