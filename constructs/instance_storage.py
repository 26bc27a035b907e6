"""SageMaker training instance families with local (instance-store NVMe) storage.

CreateTrainingJob refuses ``ResourceConfig.VolumeKmsKeyId`` for these: "Certain Nitro-based
instances include local storage ... Local storage volumes are encrypted using a hardware
module on the instance. You can't request a VolumeKmsKeyId when using an instance type with
local storage." The service model cannot express that, so it is data here, each family with
the page that says it has instance storage.

Example::

    has_local_storage("ml.g5.2xlarge")   # True: no volume key may be requested
    has_local_storage("ml.m5.xlarge")    # False: EBS only, encrypt the volume with a key
"""

from __future__ import annotations

from typing import Final

#: The rule itself (ResourceConfig.VolumeKmsKeyId).
VOLUME_KEY_RULE_URL: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html")
_SAGEMAKER = VOLUME_KEY_RULE_URL  # names ml.p4d, ml.g4dn and ml.g5 as NVMe families
_EC2_ACCELERATED = "https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html"
_EC2_GENERAL = "https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html"
_EC2_COMPUTE = "https://docs.aws.amazon.com/ec2/latest/instancetypes/co.html"
_EC2_MEMORY = "https://docs.aws.amazon.com/ec2/latest/instancetypes/mo.html"

#: Family (the part between "ml." and the size) -> where its instance store is documented.
#: Checked 2026-12-02. Families not listed (m5, c5, p3, g4ad ...) are EBS-only in training.
LOCAL_STORAGE_FAMILIES: Final[dict[str, str]] = {
    "g4dn": _SAGEMAKER, "g5": _SAGEMAKER, "p4d": _SAGEMAKER,
    "p4de": _EC2_ACCELERATED, "p3dn": _EC2_ACCELERATED, "p5": _EC2_ACCELERATED,
    "p5e": _EC2_ACCELERATED, "p5en": _EC2_ACCELERATED, "g6": _EC2_ACCELERATED,
    "g6e": _EC2_ACCELERATED, "trn1": _EC2_ACCELERATED, "trn1n": _EC2_ACCELERATED,
    "trn2": _EC2_ACCELERATED,
    "m5d": _EC2_GENERAL, "c5d": _EC2_COMPUTE, "r5d": _EC2_MEMORY,
}


def instance_family(instance_type: str) -> str:
    """``"ml.g5.2xlarge"`` -> ``"g5"`` (also without the ``ml.`` prefix)."""
    parts = instance_type.removeprefix("ml.").split(".")
    return parts[0]


def has_local_storage(instance_type: str) -> bool:
    """True when ``instance_type`` has instance-store volumes (no VolumeKmsKeyId allowed)."""
    return instance_family(instance_type) in LOCAL_STORAGE_FAMILIES
