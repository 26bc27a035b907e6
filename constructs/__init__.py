"""Reusable CDK L3 constructs with no dependency on the spec (``import skyrelay.constructs``)."""
