"""The ``skyrelay`` command line: rich output for people, ``--json`` for machines.

Exit codes: 0 success, 1 a check failed, 2 the spec (or another input) is invalid.

Example::

    skyrelay validate examples/platform.yaml
    skyrelay plan --json | jq .totals
    skyrelay gateway config > gateway.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from skyrelay.catalog.cli import catalog
from skyrelay.extras import MissingExtra, from_import_error, require
from skyrelay.init_project import init_command
from skyrelay.project import ProjectError, default_spec, pulumi_project_dir
from skyrelay.render_console import render_plan
from skyrelay.spec import Spec, SpecError, SpecIssue, load_spec
from skyrelay.views.cost import RouteTraffic, TrafficProfile
from skyrelay.views.gateway_config import gateway_config
from skyrelay.views.plan import build_plan

SPEC_CONTEXT_KEY = "skyrelay:spec"
EXIT_INVALID = 2

console = Console()
if not console.is_terminal:  # piped or captured: 80 columns would fold every table
    console.width = 140
err_console = Console(stderr=True, soft_wrap=True)


def find_default_spec(start: Path | None = None) -> Path:
    """The spec named by ``skyrelay:spec`` in the nearest cdk.json at or above ``start``."""
    try:
        return default_spec(start)
    except ProjectError as exc:
        fail(str(exc))


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print an error for people and exit without a traceback."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    sys.exit(code)


def load_or_exit(spec_path: str | None, as_json: bool = False) -> tuple[Path, Spec]:
    """Load the spec (default from cdk.json) or print every problem and exit 2."""
    path = Path(spec_path) if spec_path else find_default_spec()
    warnings: list[SpecIssue] = []
    try:
        loaded = load_spec(path, warnings=warnings)
        for warning in warnings:  # the model catalog's findings that do not stop a deploy
            err_console.print(f"warning: {warning}", highlight=False, markup=False)
        return path, loaded
    except SpecError as err:
        if as_json:
            click.echo(json.dumps({"valid": False, "spec": str(path),
                                   "errors": [i.as_dict() for i in err.issues]}, indent=2))
        else:
            err_console.print(f"[bold red]{path}: {len(err.issues)} problem(s)[/]")
            for issue in err.issues:
                err_console.print(f"  {issue}", highlight=False, markup=False)
            for warning in warnings:
                err_console.print(f"warning: {warning}", highlight=False, markup=False)
        sys.exit(EXIT_INVALID)


spec_argument = click.argument("spec", required=False)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


class _Commands(click.Group):
    """The command group: a command whose pip extra is missing says so in one line, exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingExtra as exc:
            fail(str(exc))
        except ModuleNotFoundError as exc:
            missing = from_import_error(exc, f"skyrelay {ctx.invoked_subcommand or ''}".strip())
            if missing is None:
                raise
            fail(str(missing))


@click.group(cls=_Commands)
@click.version_option(package_name="skyrelay")
def main() -> None:
    """skyrelay: one platform spec for frontier models on AWS and Azure."""


main.add_command(catalog)


@main.command()
@spec_argument
@json_option
def validate(spec: str | None, as_json: bool) -> None:
    """Validate SPEC (default: cdk.json's skyrelay:spec); exit 2 listing every problem."""
    path, loaded = load_or_exit(spec, as_json)
    if as_json:
        click.echo(json.dumps({"valid": True, "spec": str(path), "errors": []}, indent=2))
    else:
        console.print(f"[green]ok[/] {path}: {len(loaded.routes)} routes, "
                      f"{len(loaded.tenants)} tenants", highlight=False)


@main.command()
@spec_argument
@json_option
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the plan as a self-contained HTML page: topology diagram, "
                   "reachability, residency matrix, cost chart and the tables.")
@click.option("--svg", "svg_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the topology diagram alone as an SVG file.")
@click.option("--requests-per-month", default=100_000, show_default=True, type=click.IntRange(0),
              help="Traffic profile: requests per route per month.")
@click.option("--input-tokens", default=1_500, show_default=True, type=click.IntRange(0))
@click.option("--output-tokens", default=400, show_default=True, type=click.IntRange(0))
@click.option("--stack-config", type=click.Path(exists=True, dir_okay=False),
              help="A Pulumi.<stack>.yaml: plan the Azure side with its config instead of "
                   "placeholders (what `pulumi up` would do with that stack).")
def plan(spec: str | None, as_json: bool, html_file: str | None, svg_file: str | None,
         requests_per_month: int, input_tokens: int, output_tokens: int,
         stack_config: str | None) -> None:
    """Show what each cloud gets, every route's targets and residency, and the monthly cost."""
    path, loaded = load_or_exit(spec, as_json)
    traffic = TrafficProfile(RouteTraffic(requests_per_month, input_tokens, output_tokens))
    document = build_plan(loaded, traffic)
    document["azure_resources"] = azure_resources_or_exit(path, loaded, stack_config)
    written = write_plan_figures(loaded, document, html_file, svg_file)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    render_plan(document)
    for name in written:
        console.print(f"wrote {name}", highlight=False)


def write_plan_figures(spec: Spec, document: dict[str, Any], html_file: str | None,
                       svg_file: str | None) -> list[str]:
    """Write the HTML page and/or the topology SVG (nothing when Graphviz is missing)."""
    if not html_file and not svg_file:
        return []
    # The residency matrix is the gateway's own access policy, so its modules are needed.
    require("gateway", "skyrelay plan --html/--svg")
    from skyrelay.plan_page import write_plan_outputs
    from skyrelay.render_svg_topology import DotMissing

    try:
        return write_plan_outputs(spec, document, html_file, svg_file)
    except DotMissing as exc:
        fail(f"skyrelay plan: {exc}")


def azure_resources_or_exit(path: Path, spec: Spec,
                            stack_config: str | None = None) -> dict[str, Any] | None:
    """The Azure program's resource tree under mocks; None when the spec has no Azure side."""
    if not spec.azure:
        return None
    require("azure", "skyrelay plan")
    from skyrelay.pulumi.plan_step import AzurePlanError, azure_resource_tree

    try:
        return azure_resource_tree(path, stack_config=stack_config)
    except AzurePlanError as exc:
        fail(f"Azure program: {exc}", code=exc.exit_code)


@main.group()
def gateway() -> None:
    """The gateway service: its derived config, and serving it."""


@gateway.command("config")
@spec_argument
@click.option("--region", default=None,
              help="The config of this gateway region (only the targets it can call); "
                   "default: the whole routing table, for a local gateway.")
def gateway_config_cmd(spec: str | None, region: str | None) -> None:
    """Print the gateway runtime config derived from SPEC (JSON)."""
    _, loaded = load_or_exit(spec, as_json=True)
    if region is not None and region not in loaded.gateway.regions:
        fail(f"--region {region}: not a gateway region (gateway.regions: "
             f"{', '.join(loaded.gateway.regions) or 'none'})")
    click.echo(json.dumps(gateway_config(loaded, region), indent=2, sort_keys=True))


@gateway.command("serve")
@click.option("--spec", "spec", help="Platform spec (default: the one named in cdk.json).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Derived gateway config JSON (from 'skyrelay gateway config') instead.")
@click.option("--config-env", "config_env", metavar="VAR",
              help="Read the config JSON from environment variable VAR instead (in a "
                   "container: injected by ECS from the SSM parameter; no file, no network).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 127.0.0.1 for development, 0.0.0.0 in a container.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--workers", type=click.IntRange(1, 256), envvar="SKYRELAY_WORKERS",  # WORKERS_ENV
              help="Worker processes on the same port (default: the CPUs this process may "
                   "use when SKYRELAY_REDIS_URL shares limits and budgets, else 1).")
def gateway_serve_cmd(spec: str | None, config_file: str | None, config_env: str | None,
                      host: str, port: int, log_level: str, workers: int | None) -> None:
    """Serve the OpenAI-compatible gateway until SIGINT/SIGTERM (graceful)."""
    require("gateway", "skyrelay gateway serve")
    from skyrelay.gateway.launch import LaunchError, launch

    if sum(map(bool, (spec, config_file, config_env))) > 1:
        fail("give one of --spec, --config or --config-env, not both")
    try:
        code = launch(spec=None if config_file or config_env else (spec or find_default_spec()),
                      config_file=config_file, config_env=config_env, host=host, port=port,
                      log_level=log_level, workers=workers)
    except LaunchError as exc:
        fail(str(exc))
    if code:
        raise SystemExit(code)


link_option = click.option(
    "--link", "link_dir", type=click.Path(file_okay=False, exists=True),
    help="A `skyrelay link` folder, used as `cdk deploy -c skyrelay:link=DIR` uses it (the "
         "linked gateway configs, the private VPN's stacks).")


def require_cloud_extras(spec: Spec, feature: str) -> None:
    """Synth runs the CDK app, and the Azure program when the spec has an Azure side."""
    require("aws", feature)
    if spec.azure:
        require("azure", feature)


@main.command()
@spec_argument
@click.option("--output", "-o", "output", type=click.Path(file_okay=False),
              help="Output folder (default: cdk.out beside cdk.json).")
@link_option
def synth(spec: str | None, output: str | None, link_dir: str | None) -> None:
    """Synthesize SPEC into cdk.out/ through the pinned CDK CLI; all or nothing."""
    from skyrelay.synth import SynthError, run_synth

    path, loaded = load_or_exit(spec)  # every problem is listed before the slow part starts
    require_cloud_extras(loaded, "skyrelay synth")
    try:
        result = run_synth(path, Path(output) if output else None,
                           log=lambda msg: console.print(f"[dim]{msg}[/]", highlight=False),
                           link_dir=Path(link_dir) if link_dir else None)
    except SynthError as exc:
        fail(str(exc), code=1)
    for template in result.templates:
        console.print(f"[green]wrote[/] {template}", highlight=False)
    for note in result.notes:
        console.print(f"[dim]{note}[/]", highlight=False)


@main.command()
@spec_argument
@json_option
@click.option("--from", "from_dir", type=click.Path(file_okay=False, exists=True),
              help="Check this synth output (e.g. cdk.out) instead of synthesizing afresh.")
@link_option
def check(spec: str | None, as_json: bool, from_dir: str | None,
          link_dir: str | None) -> None:
    """Run every platform rule over the AWS templates, Azure plan and gateway config."""
    import tempfile

    from skyrelay.policies.check import render, run_checks
    from skyrelay.synth import SynthError, run_synth

    path, loaded = load_or_exit(spec, as_json)
    require_cloud_extras(loaded, "skyrelay check")
    with tempfile.TemporaryDirectory(prefix="skyrelay-check-") as tmp:
        outdir = Path(from_dir) if from_dir else Path(tmp) / "cdk.out"
        if not from_dir:
            try:
                run_synth(path, outdir, link_dir=Path(link_dir) if link_dir else None)
            except SynthError as exc:
                fail(str(exc), code=1)
        report = run_checks(loaded, outdir)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        render(report, console)
    sys.exit(1 if report.errors else 0)


@main.group()
def keys() -> None:
    """Tenant API keys: issue new ones (the gateway stores only their hashes)."""


@keys.command("new")
@click.argument("tenant")
@json_option
def keys_new(tenant: str, as_json: bool) -> None:
    """Print a fresh key for TENANT once, and the hash to store in its key reference."""
    from skyrelay.gateway.tenancy.keys import new_key

    key, stored = new_key()
    if as_json:
        click.echo(json.dumps({"tenant": tenant, "key": key, "hash": stored}))
        return
    click.echo(f"key for {tenant} (shown once; give it to the tenant):\n  {key}")
    click.echo("hash to store in the tenant's api_key reference (env var or secret):")
    click.echo(f"  {stored}")


def _project_root() -> Path:
    """The nearest folder at or above the working directory holding cdk.json, else cwd."""
    here = Path.cwd().resolve()
    return next((f for f in (here, *here.parents) if (f / "cdk.json").is_file()), here)


@main.command()
@spec_argument
@click.option("--cdk-outputs", "cdk_outputs", required=True, type=click.Path(dir_okay=False),
              help="JSON written by `cdk deploy --outputs-file FILE` (network stacks; gateway "
                   "stacks too once deployed).")
@click.option("--pulumi-outputs", "pulumi_outputs", type=click.Path(dir_okay=False),
              help="JSON of `pulumi stack output --json`; without it that command is run.")
@click.option("--stack", "pulumi_stack", metavar="NAME",
              help="Pulumi stack: its Pulumi.NAME.yaml receives the egress addresses.")
@click.option("--pulumi-dir", type=click.Path(file_okay=False),
              help="The Pulumi project folder (default: the folder of cdk.json if it holds "
                   "Pulumi.yaml, else pulumi/ beside cdk.json).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for the linked gateway configs (default: link/ beside cdk.json).")
@click.option("--vpn-connections", "vpn_connections", type=click.Path(dir_okay=False),
              help="gateway_path: private-vpn: a recorded `aws ec2 describe-vpn-connections` "
                   "answer (JSON) for step 4; without it EC2 is asked (AWS credentials).")
@click.option("--dry-run", is_flag=True, help="Check everything and show the changes only.")
def link(spec: str | None, cdk_outputs: str, pulumi_outputs: str | None,
         pulumi_stack: str | None, pulumi_dir: str | None, out_dir: str | None,
         vpn_connections: str | None, dry_run: bool) -> None:
    """Carry deploy outputs across clouds: NAT egress addresses into the Pulumi stack config,
    Azure endpoints and the gateway identity into the gateway's config (its SSM value)."""
    from skyrelay.link import (
        LinkError,
        LinkInputs,
        apply_link,
        next_steps,
        plan_link,
        pulumi_stack_outputs,
        read_json_input,
    )

    _, loaded = load_or_exit(spec)
    root = _project_root()
    pulumi_folder = Path(pulumi_dir) if pulumi_dir else pulumi_project_dir(root)
    out = Path(out_dir) if out_dir else root / "link"
    try:
        cdk = read_json_input(Path(cdk_outputs), "CDK outputs")
        pulumi: dict[str, Any] | None = None
        if loaded.azure:
            if not pulumi_stack:
                raise LinkError(["the spec has Azure accounts: name the Pulumi stack with "
                                 "--stack (its config file receives the egress addresses)"])
            pulumi = (read_json_input(Path(pulumi_outputs), "Pulumi outputs") if pulumi_outputs
                      else pulumi_stack_outputs(pulumi_stack, pulumi_folder))
        stack_file = pulumi_folder / f"Pulumi.{pulumi_stack}.yaml" if pulumi_stack else None
        from skyrelay.link_vpn import aws_vpn_inputs

        vpn = aws_vpn_inputs(read_json_input(Path(vpn_connections), "VPN connections")
                             if vpn_connections else None, pulumi_folder)
        plan = plan_link(loaded, LinkInputs(cdk, pulumi, stack_file, vpn), out)
    except LinkError as exc:
        err_console.print(f"[bold red]error:[/] skyrelay link changed nothing; "
                          f"{len(exc.problems)} problem(s):", highlight=False)
        for problem in exc.problems:
            err_console.print(f"  - {problem}", highlight=False, markup=False)
        sys.exit(EXIT_INVALID)
    changes = plan.changes if dry_run else apply_link(plan)
    verb = "would change" if dry_run else "changed"

    def say(text: str) -> None:  # one line each, never folded: scripts read these lines
        console.print(text, highlight=False, soft_wrap=True)

    for change in changes:
        say(f"{verb} {escape(str(change))}")
    if not changes:
        say("nothing to change: the outputs are already linked")
    for note in plan.notes:
        say(f"[dim]note: {escape(note)}[/]")
    say("next:")
    for step in next_steps(plan, out, cdk, pulumi_stack):
        say(f"  {escape(step)}")

main.add_command(init_command)

if __name__ == "__main__":  # pragma: no cover
    main()
