"""The Pulumi program for the Azure side and its components (``import skyrelay.pulumi``)."""
