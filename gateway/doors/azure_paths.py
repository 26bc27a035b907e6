"""Azure-style paths, so ``openai.AzureOpenAI`` and the Azure v1 style work unchanged.

- classic: ``POST /openai/deployments/{route}/chat/completions?api-version=...`` and
  ``.../embeddings``: the deployment in the path names the gateway route (Azure ignores
  the body's ``model``; so does the gateway). ``api-version`` is the client's wire
  version; the gateway serves every version the same (the caller's fields are decided per
  target as for ``/v1``).
- v1: ``/openai/v1/chat/completions``, ``/openai/v1/embeddings``, ``/openai/v1/models``
  (``AzureOpenAI(base_url=<gateway>/openai/v1)`` or ``OpenAI(base_url=...)``): exactly
  the ``/v1`` endpoints, ``model`` naming the route.

Both styles authenticate with ``api-key: <tenant key>`` (what ``AzureOpenAI`` sends) or
``Authorization: Bearer``.

Example::

    client = openai.AzureOpenAI(azure_endpoint=gateway_url, api_key=tenant_key,
                                api_version="2024-10-21")
    client.chat.completions.create(model="gpt-4o", messages=[...])
"""

from __future__ import annotations

from urllib.parse import parse_qs

from skyrelay.gateway.hub.request import PathParams
from skyrelay.gateway.server.asgi import Scope

#: (pattern, door name) of the classic deployment paths
DEPLOYMENT_PATHS = (
    ("/openai/deployments/{route}/chat/completions", "openai_chat"),
    ("/openai/deployments/{route}/embeddings", "openai_embeddings"),
)
#: prefix of the v1 paths, which mirror ``/v1``
V1_PREFIX = "/openai"


def params_of(scope: Scope, path_params: dict[str, str]) -> PathParams:
    """The route named by the path and the query's ``api-version``."""
    query = scope.get("query_string") or b""
    version = None
    if query:
        values = parse_qs(query.decode("latin-1")).get("api-version")
        version = values[0][:40] if values else None
    return PathParams(route=path_params.get("route"), api_version=version)
