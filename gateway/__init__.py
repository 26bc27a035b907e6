"""The OpenAI-compatible gateway service (``import skyrelay.gateway``)."""
