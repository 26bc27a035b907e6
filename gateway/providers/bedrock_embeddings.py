"""OpenAI embeddings <-> Bedrock InvokeModel bodies, per model family, as pure functions.

- Amazon Titan Text Embeddings (``amazon.titan-embed-*``): one call per input string,
  ``{"inputText": s}`` plus ``dimensions`` (V2: 1024 default, 512, 256) when the client
  asked; the answer's ``embedding`` and ``inputTextTokenCount``
  (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html).
- Cohere Embed v3 (``cohere.embed-*``): one call per 96 strings (the documented maximum
  per call) with ``{"texts": [...], "input_type": "search_document"}``; the answer's
  ``embeddings`` (token counts from the ``x-amzn-bedrock-input-token-count`` header)
  (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html).
- ``encoding_format: base64`` is done by the gateway: each vector as little-endian float32
  bytes, base64-encoded, which is what OpenAI answers and the SDKs decode.

Example::

    calls = request_bodies("amazon.titan-embed-text-v2:0", {"input": ["a", "b"],
                                                             "dimensions": 256})
    # [{"inputText": "a", "dimensions": 256}, {"inputText": "b", "dimensions": 256}]
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock_options import bad

#: Cohere Embed v3 takes at most this many texts per call.
COHERE_MAX_TEXTS = 96


def expected_vectors(body: dict[str, Any]) -> int:
    """How many vectors the answer to ``body`` must hold."""
    texts = body.get("texts")
    return len(texts) if isinstance(texts, list) else 1


def family(model: str) -> str:
    """``titan`` or ``cohere`` (by the model id, profile prefixes and ARNs allowed)."""
    name = model.rsplit("/", 1)[-1]
    if "cohere.embed" in name:
        return "cohere"
    return "titan"


def texts_of(request: dict[str, Any]) -> list[str]:
    """The input strings (token-id arrays are refused: Bedrock takes text)."""
    inputs = request.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad("Bedrock embeddings take a string or an array of strings as input "
                  "(token-id arrays are not accepted)", "input")
    return texts


def request_bodies(model: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The InvokeModel bodies for one embeddings request, in call order."""
    texts = texts_of(request)
    dims = request.get("dimensions")
    if family(model) == "cohere":
        if dims is not None:
            raise bad("Cohere Embed v3 on Bedrock has a fixed output size", "dimensions")
        return [{"texts": texts[i:i + COHERE_MAX_TEXTS], "input_type": "search_document"}
                for i in range(0, len(texts), COHERE_MAX_TEXTS)]
    extra = {"dimensions": dims} if dims is not None else {}
    return [{"inputText": text, **extra} for text in texts]


def vectors_of(model: str, answer: dict[str, Any], expected: int) -> list[list[float]]:
    """The vectors of one InvokeModel answer (``expected`` of them)."""
    if family(model) == "cohere":
        vectors = answer.get("embeddings")
        if isinstance(vectors, dict):  # embedding_types asked: {"float": [...]}
            vectors = vectors.get("float")
    else:
        vectors = [answer.get("embedding")]
    if not isinstance(vectors, list) or len(vectors) != expected or not all(
            isinstance(v, list) and v for v in vectors):
        raise ProviderError("protocol", 502, "Bedrock's embeddings answer has no usable "
                            "vector", retryable=True)
    return vectors


def encode(vector: list[float], encoding: str) -> list[float] | str:
    """The vector as the client asked: floats, or base64 of little-endian float32."""
    if encoding != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
