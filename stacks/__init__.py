"""CDK stacks composed from the platform spec (``import skyrelay.stacks``)."""
