"""Entry point of the Pulumi project in this folder (``pulumi up`` runs it).

The Pulumi CLI puts this folder on ``sys.path``; the folder is also the package
``skyrelay.pulumi``, so nothing here may shadow a library. We drop this folder and the
repository root from ``sys.path`` before importing, then run the real program from the
installed package. The offline plan (``skyrelay.pulumi.offline``) runs this same file.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_SHADOWING = {_HERE, os.path.dirname(_HERE)}
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) not in _SHADOWING]

from skyrelay.pulumi.program import main  # noqa: E402 - after the sys.path repair above

main()
