"""Run the project's local upstreams together, to try the gateway against every target kind.

One OpenAI/Azure upstream (``/v1/...`` for OpenAI-compatible targets, ``/openai/v1/...`` and
``/openai/deployments/...`` for Azure targets; it requires ``--key`` when given) and one
Bedrock runtime (Converse, ConverseStream event-stream framing, InvokeModel embeddings;
it requires a SigV4 ``Authorization`` header, any credentials sign). Both stop by
themselves after ``--seconds``. docs/gateway-local.md walks through using them.

Example::

    python -m skyrelay.gateway.testing.local_upstreams --openai-port 9100 \\
        --bedrock-port 9200 --key sk-local-upstream
"""

from __future__ import annotations

import argparse
import contextlib
import time

from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.upstreams import OpenAIUpstream


def main(argv: list[str] | None = None) -> int:
    """Serve both until ``--seconds`` have passed or the process is interrupted."""
    parser = argparse.ArgumentParser(prog="python -m skyrelay.gateway.testing.local_upstreams")
    parser.add_argument("--openai-port", type=int, default=9100)
    parser.add_argument("--bedrock-port", type=int, default=9200)
    parser.add_argument("--key", default=None,
                        help="key the OpenAI/Azure upstream requires (api-key or Bearer)")
    parser.add_argument("--seconds", type=float, default=600, help="stop after this long")
    args = parser.parse_args(argv)
    oai = OpenAIUpstream(reply="Hello from the local upstream", api_key=args.key,
                         port=args.openai_port, max_lifetime=args.seconds)
    bedrock = BedrockUpstream(port=args.bedrock_port, max_lifetime=args.seconds)
    with oai, bedrock:
        print(f"OpenAI/Azure upstream on {oai.url} (OpenAI base {oai.url}/v1)", flush=True)
        print(f"Bedrock runtime on {bedrock.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
