"""Compose every CDK stack the spec asks for into an app.

The AWS issue fills this in with per-region network, Bedrock, observability and
fine-tuning stacks; until then the app synthesizes no stacks.
"""

from __future__ import annotations

import aws_cdk as cdk

from skyrelay.spec import Spec


def add_platform_stacks(app: cdk.App, spec: Spec) -> list[cdk.Stack]:
    """Add the spec's stacks to ``app`` and return them."""
    return []
