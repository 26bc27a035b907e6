"""Build the CDK app from the spec named in the CDK context (``skyrelay:spec``).

``app.py`` calls :func:`build_app`, and so does ``python -P -m skyrelay.cdk_app`` (the app a
``skyrelay init`` project's cdk.json runs from the installed package); tests and benchmarks
call :func:`compose_app`. A bad spec prints every problem and returns exit code 2 before any
template is written.

Compliance checks run at synth: :func:`add_compliance_checks` registers the cdk-nag packs
as CDK validation plugins, so a violation that nobody acknowledged stops ``cdk synth``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from skyrelay.project import cdk_json, resolve_against
from skyrelay.spec import Spec, SpecError, load_spec

if TYPE_CHECKING:
    import aws_cdk as cdk

SPEC_CONTEXT_KEY = "skyrelay:spec"


def compliance_packs(app: cdk.App) -> list[object]:
    """The rule packs checked at synth (cdk-nag v3): AWS Solutions, NIST 800-53 rev 5, and
    the platform's own rules (skyrelay.policies), so `cdk synth` fails on their errors too.
    """
    from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

    from skyrelay.policies.nag_pack import SkyrelayChecks

    return [AwsSolutionsChecks(app), NIST80053R5Checks(app), SkyrelayChecks(app)]


def add_compliance_checks(app: cdk.App) -> list[object]:
    """Register :func:`compliance_packs` as validation plugins of ``app``; return them."""
    from aws_cdk import Validations

    packs = compliance_packs(app)
    Validations.of(app).add_plugins(*packs)  # type: ignore[arg-type]
    return packs


def compose_app(spec: Spec, app: cdk.App | None = None, *, checks: bool = True) -> cdk.App:
    """Add the spec's stacks (and, with ``checks``, the compliance packs) to a CDK app."""
    import aws_cdk as cdk

    from skyrelay.stacks.platform import add_platform_stacks

    app = app or cdk.App()
    add_platform_stacks(app, spec)
    if checks:
        add_compliance_checks(app)
    return app


def spec_location(value: str, start: Path | None = None) -> Path:
    """The spec a ``skyrelay:spec`` context value names: relative values are taken from the
    folder of the nearest cdk.json (where the CLI reads them), not from the working directory."""
    found = cdk_json(start)
    return resolve_against(found.parent if found else (start or Path.cwd()), value)


def build_app(outdir: str | None = None) -> int:
    """Load the spec, compose every stack, synthesize; return a process exit code."""
    import aws_cdk as cdk

    app = cdk.App(outdir=outdir) if outdir else cdk.App()
    spec_path = app.node.try_get_context(SPEC_CONTEXT_KEY)
    if not spec_path:
        print(f"error: CDK context '{SPEC_CONTEXT_KEY}' is not set (see cdk.json)", file=sys.stderr)
        return 2
    try:
        spec = load_spec(spec_location(spec_path))
    except SpecError as err:
        print(f"error: {len(err.issues)} problem(s) in the spec:\n{err}", file=sys.stderr)
        return 2
    from skyrelay.link import LinkError
    from skyrelay.stacks.vpn import VpnSpecError

    try:
        compose_app(spec, app)
    except (LinkError, VpnSpecError) as err:  # a missing or stale `skyrelay link` folder
        print(f"error: {err}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(build_app())
