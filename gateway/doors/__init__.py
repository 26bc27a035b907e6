"""Front doors: one module per client API, each parse / render / stream / render_error.

See :mod:`skyrelay.gateway.hub` for the protocol; the server's route table
(:mod:`skyrelay.gateway.server.routes`) says which paths reach which door.
"""
