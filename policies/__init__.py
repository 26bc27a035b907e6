"""The policy rule set and its CDK, Pulumi and gateway enforcers (``import skyrelay.policies``)."""
