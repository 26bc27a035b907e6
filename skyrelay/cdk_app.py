"""Build the CDK app from the spec named in the CDK context (``skyrelay:spec``).

``app.py`` calls :func:`build_app`; tests call it too. A bad spec prints every problem and
returns exit code 2 before any template is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from skyrelay.spec import SpecError, load_spec

SPEC_CONTEXT_KEY = "skyrelay:spec"


def build_app(outdir: str | None = None) -> int:
    """Load the spec, compose every stack, synthesize; return a process exit code."""
    import aws_cdk as cdk

    app = cdk.App(outdir=outdir) if outdir else cdk.App()
    spec_path = app.node.try_get_context(SPEC_CONTEXT_KEY)
    if not spec_path:
        print(f"error: CDK context '{SPEC_CONTEXT_KEY}' is not set (see cdk.json)", file=sys.stderr)
        return 2
    try:
        spec = load_spec(Path(spec_path))
    except SpecError as err:
        print(f"error: {len(err.issues)} problem(s) in the spec:\n{err}", file=sys.stderr)
        return 2
    from skyrelay.stacks.platform import add_platform_stacks

    add_platform_stacks(app, spec)
    app.synth()
    return 0
