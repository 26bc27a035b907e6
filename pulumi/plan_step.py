"""Run the offline Azure plan in a child interpreter, for ``skyrelay plan`` and ``synth``.

The child runs ``python -P -m skyrelay.pulumi.offline`` so that whatever the parent's
``sys.path`` holds (``python -m skyrelay.cli`` from the repository root puts the root, and
with it the ``pulumi/`` folder, first), ``import pulumi`` finds the library. It also keeps
the Pulumi runtime's global state out of the CLI process. This module imports no Pulumi
library itself.

Example::

    from skyrelay.pulumi.plan_step import azure_resource_tree
    doc = azure_resource_tree("examples/platform.yaml")
    print(doc["resource_count"])
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from skyrelay.extras import require

#: File name of the resource graph in the synth output folder.
PLAN_FILENAME = "azure-plan.json"


class AzurePlanError(Exception):
    """The Azure program refused the spec or could not run; ``exit_code`` 1 or 2."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def azure_resource_tree(spec_path: str | os.PathLike[str],
                        out: str | os.PathLike[str] | None = None,
                        timeout: float = 300,
                        stack_config: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run the program under mocks; return ``{resource_count, tree, outputs, plan_file}``.

    With ``out``, the child also writes the plan JSON there (atomically). ``stack_config``:
    a ``Pulumi.<stack>.yaml`` whose config is used instead of the placeholders. Raises
    :class:`skyrelay.extras.MissingExtra` when the ``azure`` extra is not installed.
    """
    require("azure", "the Azure plan")
    command = [sys.executable, "-P", "-m", "skyrelay.pulumi.offline", str(spec_path), "--json"]
    if out is not None:
        command += ["--out", str(out)]
    if stack_config is not None:
        command += ["--stack-config", str(stack_config)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AzurePlanError(f"the offline Azure plan could not run: {exc}") from exc
    if proc.returncode != 0:
        message = proc.stderr.strip().removeprefix("error: ") or f"exit {proc.returncode}"
        raise AzurePlanError(message, 2 if proc.returncode == 2 else 1)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def synth_step(ctx: Any) -> None:
    """``skyrelay synth`` step: write the Azure resource graph to ``<out>/azure-plan.json``.

    ``ctx`` is a :class:`skyrelay.synth.SynthContext`; an :class:`AzurePlanError` becomes
    the synth module's ``SynthError`` so the whole synth fails and nothing is half-written.
    """
    from skyrelay.synth import SynthError

    if not ctx.spec.azure:
        ctx.notes.append("no Azure side in the spec: no Azure plan")
        return
    target = Path(ctx.staging) / PLAN_FILENAME
    ctx.log(f"azure offline plan {ctx.spec_path} -> {Path(ctx.outdir) / PLAN_FILENAME}")
    try:
        doc = azure_resource_tree(ctx.spec_path, target)
    except AzurePlanError as exc:
        raise SynthError(f"Azure program: {exc}") from exc
    ctx.notes.append(f"Azure resource graph: {doc['resource_count']} resources "
                     f"({PLAN_FILENAME})")
