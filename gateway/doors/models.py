"""``GET /v1/models`` and ``GET /v1/models/{model}``: the routes the calling tenant may use.

Configured route names, never a listing from an upstream (Azure's own list would name
deployments the tenant cannot call). A route the tenant may not use is 404, like one
that does not exist.

Example::

    await models_list(app, scope, send, base_headers)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.server.asgi import Headers, Scope, Send, send_error, send_json

if TYPE_CHECKING:
    from skyrelay.gateway.server.app import GatewayApp


def model_entry(app: GatewayApp, name: str) -> dict[str, Any]:
    """One OpenAI ``model`` object."""
    return {"id": name, "object": "model", "created": app.created,
            "owned_by": app.config.name}


async def models_list(app: GatewayApp, scope: Scope, send: Send, base: Headers,
                      params: dict[str, str]) -> None:
    """The tenant's routes as an OpenAI ``list``."""
    tenant = await app.authenticate(scope, send, base)
    if tenant is None:
        return
    data = [model_entry(app, r.name) for r in app.policy.routes_for(tenant)]
    await send_json(send, 200, orjson.dumps({"object": "list", "data": data}), base)


async def model_one(app: GatewayApp, scope: Scope, send: Send, base: Headers,
                    params: dict[str, str]) -> None:
    """One route the tenant may use, or 404."""
    tenant = await app.authenticate(scope, send, base)
    if tenant is None:
        return
    name = params["model"]
    if name not in tenant.routes or name not in app.config.routes:
        await send_error(send, GatewayError.model_not_found(name), base)
        return
    await send_json(send, 200, orjson.dumps(model_entry(app, name)), base)
