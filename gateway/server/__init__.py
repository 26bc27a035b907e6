"""The HTTP side of the gateway: the raw-ASGI app, its request context and tenancy hooks."""
