"""The CDK app: ``cdk synth`` / ``cdk deploy`` from the repository root run this via cdk.json.

cdk.json starts it as ``python3 -P app.py`` so the repository root is never on sys.path
(the folders ``constructs/`` and ``pulumi/`` would otherwise shadow the libraries).
"""

from __future__ import annotations

import sys

from skyrelay.cdk_app import build_app

if __name__ == "__main__":
    sys.exit(build_app())
