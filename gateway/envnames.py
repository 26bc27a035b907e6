"""The one place that names what the stacks inject into the gateway container and what the
gateway reads: environment variables, secret references, the port.

``stacks/gateway.py`` and ``constructs/gateway_service.py`` import these names to wire the
ECS task; the gateway (``serve``, ``keys_plain``, the providers, ``server/ops``) imports the
same names to read them, so what the stack injects is what the gateway reads. A spec key
reference (``{env: VAR}`` / ``{secret: NAME}``) reaches the container as
:func:`reference_env_name` (``VAR``, or ``SKYRELAY_SECRET_<NAME>``), or as the file
``$SKYRELAY_SECRETS_DIR/<NAME>`` where secrets are mounted as files;
:func:`resolve_reference` reads it back, for tenant keys and upstream keys alike.

Example::

    reference_env_name({"secret": "acme/vllm"})      # "SKYRELAY_SECRET_ACME_VLLM"
    resolve_reference({"env": "VLLM_KEY"}, {"VLLM_KEY": "sk-1"}, None)   # "sk-1"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

#: The gateway config (JSON) injected by ECS from the SSM parameter.
CONFIG_ENV = "SKYRELAY_GATEWAY_CONFIG"
#: The shared-state backend (``tenancy.wiring``): URL without password, and the password.
REDIS_URL_ENV = "SKYRELAY_REDIS_URL"
REDIS_PASSWORD_ENV = "SKYRELAY_REDIS_PASSWORD"
#: The gateway's own settings (``server/ops.py``).
METRICS_PORT_ENV = "SKYRELAY_METRICS_PORT"
METRICS_HOST_ENV = "SKYRELAY_METRICS_HOST"
METRICS_TOKEN_ENV = "SKYRELAY_METRICS_TOKEN"
DRAIN_ENV = "SKYRELAY_DRAIN_SECONDS"
#: Worker processes (``serve --workers``); the stack sets the task's vCPU count.
WORKERS_ENV = "SKYRELAY_WORKERS"
HEADER_TIMEOUT_ENV = "SKYRELAY_HEADER_TIMEOUT"
MAX_CONNECTIONS_ENV = "SKYRELAY_MAX_CONNECTIONS"
#: Overrides the Azure classic data-plane api-version for accounts that use it.
AZURE_API_VERSION_ENV = "SKYRELAY_AZURE_API_VERSION"
#: The gateway's Entra credential (what azure-identity's EnvironmentCredential reads) and
#: the JSON fields of the secret the stack keeps it in.
AZURE_CREDENTIAL_FIELDS = {"AZURE_TENANT_ID": "tenant_id", "AZURE_CLIENT_ID": "client_id",
                           "AZURE_CLIENT_SECRET": "client_secret"}
#: Where secrets are mounted as files (ECS/Kubernetes), and the variable prefix otherwise.
SECRETS_DIR_ENV = "SKYRELAY_SECRETS_DIR"
SECRET_ENV_PREFIX = "SKYRELAY_SECRET_"
#: Local development only: an upstream key for a target whose spec entry names none
#: (``SKYRELAY_OPENAI_KEY_<ENDPOINT>``, ``SKYRELAY_AZURE_KEY_<ACCOUNT>``).
OPENAI_KEY_PREFIX = "SKYRELAY_OPENAI_KEY_"
AZURE_KEY_PREFIX = "SKYRELAY_AZURE_KEY_"
#: The port the gateway container listens on.
CONTAINER_PORT = 8080
#: Where the ADOT collector sidecar (``constructs/gateway_tracing.py``) receives OTLP/HTTP
#: and the gateway sends its spans with ``gateway.tracing.exporter: adot-xray``: the task's
#: containers share one network namespace (awsvpc), so 127.0.0.1 is the sidecar.
OTLP_HTTP_PORT = 4318
SIDECAR_TRACES_ENDPOINT = f"http://127.0.0.1:{OTLP_HTTP_PORT}/v1/traces"

#: Set by the platform itself: a key reference may not take one of these.
RESERVED_ENV = frozenset({
    CONFIG_ENV, REDIS_URL_ENV, REDIS_PASSWORD_ENV, *AZURE_CREDENTIAL_FIELDS,
    METRICS_PORT_ENV, METRICS_HOST_ENV, METRICS_TOKEN_ENV, DRAIN_ENV, HEADER_TIMEOUT_ENV,
    MAX_CONNECTIONS_ENV, WORKERS_ENV,
})

_NON_ALNUM = re.compile(r"[^A-Z0-9]")


def env_suffix(name: str) -> str:
    """``name`` as an environment-variable suffix: ``oai-eu.1`` -> ``OAI_EU_1``."""
    return _NON_ALNUM.sub("_", name.upper())


def secret_env_name(name: str) -> str:
    """The environment variable that holds secret ``name`` when no secrets folder is set."""
    return SECRET_ENV_PREFIX + env_suffix(name)


def reference_env_name(ref: Mapping[str, str]) -> str:
    """The variable a spec key reference reaches the container as."""
    if ref.get("env"):
        return ref["env"]
    name = ref.get("secret")
    if not name:
        raise ValueError(f"a key reference needs 'env' or 'secret', got {dict(ref)!r}")
    return secret_env_name(name)


def resolve_reference(ref: Mapping[str, str], environ: Mapping[str, str],
                      secrets_dir: Path | None) -> str | None:
    """The value a spec reference points at, or None when it is not available here."""
    if "env" in ref:
        value = environ.get(ref["env"])
        return value.strip() if value and value.strip() else None
    name = ref.get("secret")
    if not name:
        return None
    if secrets_dir is not None:
        path = secrets_dir / name
        try:
            if path.resolve().is_relative_to(secrets_dir.resolve()) and path.is_file():
                text = path.read_text().strip()
                return text or None
        except OSError:
            return None
        return None
    value = environ.get(secret_env_name(name))
    return value.strip() if value and value.strip() else None


def secrets_dir_of(environ: Mapping[str, str]) -> Path | None:
    """The mounted-secrets folder, when ``SKYRELAY_SECRETS_DIR`` names one."""
    value = environ.get(SECRETS_DIR_ENV)
    return Path(value) if value else None
