"""The Bedrock ARNs that IAM must allow, per region.

Foundation-model ARNs carry no account. A system cross-region inference profile needs its
profile ARN in the calling region *and* the foundation-model ARN in every region it can
route to; a ``global.`` profile also needs the region-less foundation-model ARN.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.bedrock_arns import bedrock_invoke_arns
    arns = bedrock_invoke_arns(load_spec("examples/platform.yaml"), "us-east-1", "111122223333")
    print(arns.all())
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay import regions
from skyrelay.spec.models import BedrockModel, Spec


def partition_of(region: str) -> str:
    """The ARN partition of an AWS region."""
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


@dataclass(frozen=True)
class BedrockArns:
    """ARNs one region's callers may invoke, split by kind.

    ``foundation_models`` is every foundation-model ARN; ``profile_models`` says which of
    them each profile routes to (granted only through it, ``bedrock:InferenceProfileArn``),
    and :attr:`direct_models` are the ones invoked by their own id.
    """

    region: str
    foundation_models: tuple[str, ...]
    inference_profiles: tuple[str, ...]
    profile_models: tuple[tuple[str, tuple[str, ...]], ...] = ()
    direct: tuple[str, ...] | None = None

    def all(self) -> list[str]:
        """Every ARN, profiles first, each once."""
        return list(self.inference_profiles) + list(self.foundation_models)

    @property
    def direct_models(self) -> tuple[str, ...]:
        """Foundation models invoked in-region by their own id (no profile)."""
        if self.direct is not None:
            return self.direct
        routed = {a for _, fms in self.profile_models for a in fms}
        return tuple(a for a in self.foundation_models if a not in routed)


def model_arns(model: BedrockModel, region: str, account: str) -> BedrockArns:
    """ARNs needed to invoke one model entry from ``region``."""
    part = partition_of(region)
    fm_id = regions.foundation_model_id(model.model_id)
    dest = regions.bedrock_destinations(model.model_id, region, model.destination_regions)
    profiles: list[str] = []
    fms: set[str] = set()
    if model.is_profile:
        profiles.append(f"arn:{part}:bedrock:{region}:{account}:inference-profile/{model.model_id}")
    if dest is None:  # global profile: any region, written with an empty region field
        fms.add(f"arn:{part}:bedrock:::foundation-model/{fm_id}")
        fms.add(f"arn:{part}:bedrock:{region}::foundation-model/{fm_id}")
    else:
        fms.update(f"arn:{part}:bedrock:{r}::foundation-model/{fm_id}" for r in dest)
    if profiles:
        return BedrockArns(region, tuple(sorted(fms)), tuple(profiles),
                           ((profiles[0], tuple(sorted(fms))),), ())
    return BedrockArns(region, tuple(sorted(fms)), tuple(profiles))


def bedrock_invoke_arns(spec: Spec, region: str, account: str) -> BedrockArns:
    """All ARNs the spec's models in ``region`` need; ``account`` may be a CDK token."""
    if not spec.aws or region not in spec.aws.regions:
        return BedrockArns(region, (), ())
    fms: set[str] = set()
    direct: set[str] = set()
    routes: dict[str, set[str]] = {}
    for model in spec.aws.regions[region].bedrock_models:
        arns = model_arns(model, region, account)
        fms.update(arns.foundation_models)
        direct.update(arns.direct_models)
        for profile, routed in arns.profile_models:
            routes.setdefault(profile, set()).update(routed)
    return BedrockArns(region, tuple(sorted(fms)), tuple(sorted(routes)),
                       tuple((p, tuple(sorted(routes[p]))) for p in sorted(routes)),
                       tuple(sorted(direct)))
