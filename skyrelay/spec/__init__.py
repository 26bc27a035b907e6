"""The platform spec: models, loading with located errors, and whole-document checks.

Example::

    from skyrelay.spec import load_spec
    spec = load_spec("examples/platform.yaml")
"""

from skyrelay.spec.loader import SpecError, SpecIssue, load_spec, parse_spec_text
from skyrelay.spec.models import Spec

__all__ = ["Spec", "SpecError", "SpecIssue", "load_spec", "parse_spec_text"]
