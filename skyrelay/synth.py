"""``skyrelay synth``: write every artifact the spec produces into ``cdk.out/``, all or nothing.

The steps run in order against a *staging* folder next to the output folder; only when every
step succeeds is the staging folder moved into place (the previous output is swapped out in
the same moment). A failed step leaves the previous ``cdk.out/`` exactly as it was and removes
the staging folder, so nothing half-written is ever left behind.

The first step runs the CDK app (cdk.json's ``app``) through the project's pinned CDK CLI
(``node_modules/.bin/cdk``, installed by ``npm ci``) with context lookups disabled, so synth
needs no credentials and no network. Adding a step is one line in :data:`STEPS`; a step is a
function taking a :class:`SynthContext` and writing under ``ctx.staging``.

Example::

    from pathlib import Path
    from skyrelay.synth import run_synth
    result = run_synth(Path("examples/platform.yaml"))
    print([p.name for p in result.templates])
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from skyrelay.project import ProjectError, cdk_json, read_cdk_json
from skyrelay.pulumi.plan_step import synth_step as azure_plan_step
from skyrelay.spec import Spec, load_spec

SPEC_CONTEXT_KEY = "skyrelay:spec"
#: The link folder's context key (``stacks.gateway.LINK_CONTEXT_KEY``, which needs aws_cdk).
LINK_CONTEXT_KEY = "skyrelay:link"
#: Environment override for the CDK CLI executable (default: the project's node_modules).
CDK_CLI_ENV = "SKYRELAY_CDK_CLI"
#: Lines of CDK CLI output quoted in an error.
_ERROR_TAIL_LINES = 60


class SynthError(Exception):
    """A synth step failed; the message says which one and why."""


@dataclass
class SynthContext:
    """What a synth step gets: the spec and the folder it writes into.

    ``staging`` becomes ``outdir`` when every step has succeeded.
    """

    spec_path: Path
    spec: Spec
    project_root: Path
    staging: Path
    outdir: Path
    log: Callable[[str], None]
    notes: list[str] = field(default_factory=list)
    #: a ``skyrelay link`` folder for the app's ``skyrelay:link`` context (None: none yet)
    link_dir: Path | None = None


SynthStep = Callable[[SynthContext], None]


@dataclass(frozen=True)
class SynthResult:
    """The finished output folder, the CloudFormation templates in it, and step notes."""

    outdir: Path
    templates: tuple[Path, ...]
    notes: tuple[str, ...]


def project_root_for(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding cdk.json."""
    found = cdk_json(start)
    if found is None:
        here = (start or Path.cwd()).resolve()
        raise SynthError(f"no cdk.json in {here} or above it: run `skyrelay init` to create a "
                         "project (cdk.json runs the CDK app shipped in the skyrelay package)")
    return found.parent


def app_command(project_root: Path) -> str:
    """The CDK app command of the project's cdk.json, run with this interpreter.

    A leading ``python``/``python3`` becomes ``sys.executable``, so ``.venv/bin/skyrelay
    synth`` uses the environment skyrelay is installed in even when it is not activated.
    """
    try:
        app = read_cdk_json(project_root / "cdk.json").get("app")
    except ProjectError as exc:
        raise SynthError(str(exc)) from None
    if not isinstance(app, str) or not app.strip():
        raise SynthError(f"{project_root / 'cdk.json'}: no \"app\" command; the skyrelay app "
                         f"is \"python3 -P -m skyrelay.cdk_app\"")
    words = shlex.split(app)
    if re.fullmatch(r"python(3(\.\d+)?)?", Path(words[0]).name):
        words[0] = sys.executable
    return shlex.join(words)


def cdk_cli(project_root: Path) -> list[str]:
    """The command that starts the pinned CDK CLI, or a SynthError saying how to install it."""
    override = os.environ.get(CDK_CLI_ENV)
    if override:
        return shlex.split(override)
    cli = project_root / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        raise SynthError(
            f"the CDK CLI is not installed ({cli} is missing): run `npm ci` in {project_root}, "
            "where package.json pins it (`skyrelay init` writes one; in the skyrelay "
            "repository `make install` runs it)"
        )
    return [str(cli)]


#: Where AWS SDKs find credentials. The CDK CLI looks up the default account with whatever
#: credentials it finds (an STS call) even with --no-lookups; synth is offline and the stacks
#: never use that account, so the CLI gets none: no network call, nothing signed.
_AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)


def cdk_environment() -> dict[str, str]:
    """Process environment for the CDK CLI and the jsii runtime: quiet, offline, no telemetry,
    no AWS credentials (not even from ``~/.aws`` or the instance metadata service)."""
    env = {k: v for k, v in os.environ.items() if k not in _AWS_CREDENTIAL_VARIABLES}
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    node_major = _node_major()
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    if node_major:
        env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", node_major)
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    env.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
    return env


def _node_major() -> str:
    node = shutil.which("node")
    if not node:
        return ""
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip().lstrip("v").split(".", 1)[0]


def cdk_synth(ctx: SynthContext) -> None:
    """Step: run app.py through the pinned CDK CLI into the staging folder.

    Lookups are disabled (``--no-lookups``): an app that would need one fails instead of
    reaching for credentials or the network.
    """
    command = [
        *cdk_cli(ctx.project_root), "synth",
        "--app", app_command(ctx.project_root),
        "--output", str(ctx.staging),
        "--context", f"{SPEC_CONTEXT_KEY}={ctx.spec_path}",
        *(["--context", f"{LINK_CONTEXT_KEY}={ctx.link_dir}"] if ctx.link_dir else []),
        "--no-lookups", "--no-notices", "--no-version-reporting", "--quiet",
    ]
    ctx.log(f"cdk synth {ctx.spec_path} -> {ctx.outdir}")
    try:
        proc = subprocess.run(command, cwd=ctx.project_root, env=cdk_environment(),
                              capture_output=True, text=True)
    except OSError as exc:
        raise SynthError(f"cannot start the CDK CLI ({command[0]}): {exc}") from exc
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()
        tail = "\n".join(line for line in lines[-_ERROR_TAIL_LINES:] if "!!" not in line)
        raise SynthError(f"cdk synth failed (exit {proc.returncode}):\n{tail}")
    templates = sorted(ctx.staging.glob("*.template.json"))
    ctx.notes.append(f"{len(templates)} CloudFormation templates")


#: The synth steps, in order. Each writes under ``ctx.staging``; add a step with one line.
STEPS: list[SynthStep] = [
    cdk_synth,
    azure_plan_step,  # the Pulumi program under mocks -> azure-plan.json
]


def run_synth(
    spec_path: Path,
    outdir: Path | None = None,
    *,
    project_root: Path | None = None,
    steps: Sequence[SynthStep] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    link_dir: Path | None = None,
) -> SynthResult:
    """Run every synth step into a staging folder and move it to ``outdir`` only on success.

    ``link_dir``: a ``skyrelay link`` folder (linked gateway configs, the private VPN's
    values), as ``cdk deploy -c skyrelay:link=...`` would use it.
    ``spec_path`` is validated first (``SpecError`` propagates with every problem listed).
    ``outdir`` defaults to ``<project root>/cdk.out``. Raises :class:`SynthError` when a step
    fails; the previous ``outdir`` is then left untouched.
    """
    root = (project_root or project_root_for()).resolve()
    spec_path = spec_path.resolve()
    spec = load_spec(spec_path)
    final = (outdir or root / "cdk.out").resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    # Staging sits beside the output so the final rename stays on one file system.
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    ctx = SynthContext(spec_path, spec, root, staging, final, log,
                       link_dir=link_dir.resolve() if link_dir else None)
    try:
        for step in STEPS if steps is None else steps:
            step(ctx)
        _swap_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SynthResult(final, tuple(sorted(final.glob("*.template.json"))), tuple(ctx.notes))


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging``; the old folder is removed only after the swap."""
    if not final.exists():
        staging.rename(final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    old.rmdir()
    final.rename(old)
    try:
        staging.rename(final)
    except OSError:
        old.rename(final)  # put the previous output back before reporting the failure
        raise
    shutil.rmtree(old, ignore_errors=True)
