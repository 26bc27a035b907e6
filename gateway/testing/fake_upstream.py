"""Run the fake OpenAI-compatible upstream on its own, to try the gateway locally.

It answers Chat Completions (JSON and SSE) and embeddings on 127.0.0.1 with a fixed reply,
and stops by itself after ``--seconds``. README: "Run the gateway locally".

Example::

    python -m skyrelay.gateway.testing.fake_upstream --port 9100 --seconds 600
"""

from __future__ import annotations

import argparse
import contextlib
import time

from skyrelay.gateway.testing.upstreams import OpenAIUpstream


def main(argv: list[str] | None = None) -> int:
    """Serve until ``--seconds`` have passed or the process is interrupted."""
    parser = argparse.ArgumentParser(prog="python -m skyrelay.gateway.testing.fake_upstream")
    parser.add_argument("--port", type=int, default=9100, help="loopback port (0: any free)")
    parser.add_argument("--seconds", type=float, default=600, help="stop after this long")
    parser.add_argument("--reply", default="Hello from the local upstream")
    args = parser.parse_args(argv)
    upstream = OpenAIUpstream(reply=args.reply, port=args.port, max_lifetime=args.seconds)
    with upstream:
        print(f"fake OpenAI-compatible upstream on {upstream.url}/v1 for {args.seconds:.0f} s",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
            time.sleep(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
