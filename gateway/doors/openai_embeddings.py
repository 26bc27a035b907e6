"""The OpenAI embeddings door: ``POST /v1/embeddings`` (and its Azure paths).

``encoding_format`` is kept in the body: targets that speak the API answer in the format
asked; the Bedrock translation encodes base64 itself (little-endian float32, as OpenAI).

Example::

    req = DOOR.parse({"model": "embed", "input": "hi", "encoding_format": "base64"},
                     PathParams())
    req.encoding   # "base64"
"""

from __future__ import annotations

from typing import Any

import orjson

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.request import API_EMBEDDINGS, Operation, PathParams, Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.router.tokens import estimate_embeddings
from skyrelay.gateway.server.validate import check_embeddings


class OpenAIEmbeddingsDoor:
    """The embeddings API."""

    name = "openai_embeddings"
    api = API_EMBEDDINGS
    op: Operation = "embeddings"

    def parse(self, body: dict[str, Any], params: PathParams) -> Request:
        """Validate and wrap; a route named by the path wins over ``model``."""
        if params.route is not None:
            body = {**body, "model": params.route}
        check_embeddings(body)
        encoding = body.get("encoding_format")
        if encoding is not None and encoding not in ("float", "base64"):
            raise GatewayError.bad_request(
                f"Invalid value for 'encoding_format': expected 'float' or 'base64', got "
                f"{str(encoding)[:40]!r}.", param="encoding_format", code="invalid_value")
        dims = body.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)
                                 or dims < 1):
            raise GatewayError.bad_request("'dimensions' must be a positive integer.",
                                           param="dimensions", code="invalid_value")
        return Request("embeddings", API_EMBEDDINGS, body["model"], body,
                       estimate=estimate_embeddings(body), encoding=encoding or "float",
                       params=params)

    def render(self, request: Request, result: Result) -> bytes:
        """The embeddings ``list`` JSON."""
        return orjson.dumps(result.body)

    def stream(self, request: Request) -> Any:
        """Embeddings never stream."""
        raise GatewayError.bad_request("Embeddings do not stream.", param="stream")

    def render_error(self, err: GatewayError) -> bytes:
        """OpenAI's error body."""
        return err.body()


DOOR = OpenAIEmbeddingsDoor()
