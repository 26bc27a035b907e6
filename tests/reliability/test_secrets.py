"""Test keys and test secrets never appear where they do not belong.

Every secret the toolchain and the gateway can meet gets a distinctive random value (a
*sentinel*) in the environment: tenant keys and their stored hashes, the Azure OpenAI
api-key, an OpenAI-compatible key, the Redis password, AWS credentials with a session
token, the Entra client secret, Pulumi's passphrase, access token and a secret config value.
Then:

1. ``skyrelay synth`` of the default spec (the real CLI: pinned CDK CLI, cdk-nag, the Azure
   program under mocks) writes none of them into any file of its output;
2. ``skyrelay validate/plan/check/gateway config/link`` print and write none; ``keys new``
   prints its key exactly once;
3. the gateway, in-process with local upstreams, a password-protected redis-server and a
   local Microsoft Entra authority over TLS, puts none into responses (bodies and headers),
   usage records, ``/metrics``, ``/readyz``, ``/healthz``, ``/openapi.json`` or logs (DEBUG),
   through successes, upstream failures (a wrong upstream key, 500s, resets, a refused
   client secret, upstreams that quote the credential they refused, as AWS does in
   ``InvalidSignatureException``), wrong tenant keys and Redis going away; and each
   upstream receives its own credential only, in the header meant for it (the Entra client
   secret only in the token request's form, the token only as its upstream's bearer);
4. ``skyrelay gateway serve --log-level debug`` as a process prints none.

"Holds a secret" is decided by :func:`find_leaks` over raw bytes: the value, its URL and
JSON encodings, its base64 forms at every byte alignment, and 16-character windows of its
random part, so a truncated or re-encoded leak still counts. ``test_the_leak_finder_*``
proves it finds each form; the synth test proves it finds a value that is in the output.
"""

from __future__ import annotations

import base64
import datetime
import functools
import io
import ipaddress
import json
import logging
import os
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import httpx
import pytest
from aiohttp import web

from skyrelay.gateway.keys_plain import secret_env_name
from skyrelay.gateway.metering import Meter
from skyrelay.gateway.providers.openai_compat import EntraTokenCache, key_env_var
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.tenancy.keys import HashedKeys, new_key, parse_stored
from skyrelay.gateway.tenancy.wiring import build_hooks
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import (
    OPS_HEADERS,
    ServerThread,
    base_config,
    base_config_dict,
    free_port,
    ops_for_tests,
)
from skyrelay.gateway.testing.redis_server import RedisServer
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "examples" / "platform.yaml"
CLI = str(Path(sys.executable).parent / "skyrelay")
LINK_FIXTURES = REPO / "tests" / "e2e" / "deploy" / "fixtures"
MSG = [{"role": "user", "content": "hello there"}]

#: Length of the fragments of a secret's random part that count as a leak, and their step:
#: any leaked run of WINDOW + STEP - 1 characters contains one of them.
WINDOW = 16
STEP = 8


# --- sentinels and the grep ---------------------------------------------------------------

@dataclass(frozen=True)
class Sentinel:
    """A secret value and the random parts of it (``cores``) whose fragments are leaks too.

    The cores leave out public structure: the ``sk-sr-<keyid>-`` of a tenant key (the key id
    is public by design) and the ``sha256$<keyid>$`` of a stored hash.
    """

    name: str
    value: str
    cores: tuple[str, ...] = ()

    @functools.cached_property
    def needles(self) -> tuple[tuple[str, bytes], ...]:
        """``(form, bytes)`` for every form of the value that counts as a leak."""
        found: dict[bytes, str] = {}
        raw = self.value.encode()
        found[raw] = "raw"
        for form, text in (("url-encoded", quote(self.value, safe="")),
                           ("form-encoded", quote_plus(self.value)),
                           ("json", json.dumps(self.value)[1:-1])):
            found.setdefault(text.encode(), form)
        for pad in range(3):
            # Inside a larger base64 blob the value starts at some byte offset; its middle
            # characters depend only on the value and that offset modulo 3.
            middle = base64.b64encode(b"\0" * pad + raw)[4:-4]
            if len(middle) >= WINDOW:
                found.setdefault(middle, f"base64@{pad}")
                found.setdefault(middle.translate(bytes.maketrans(b"+/", b"-_")),
                                 f"base64url@{pad}")
        for core in self.cores or (self.value,):
            data = core.encode()
            if len(data) <= WINDOW:
                found.setdefault(data, "core")
                continue
            starts = list(range(0, len(data) - WINDOW + 1, STEP))
            if starts[-1] != len(data) - WINDOW:
                starts.append(len(data) - WINDOW)
            for start in starts:
                found.setdefault(data[start:start + WINDOW], f"fragment@{start}")
        return tuple((form, needle) for needle, form in found.items())


def find_leaks(blob: bytes | str, sentinels: Iterable[Sentinel]) -> list[str]:
    """Which sentinels (and in which form) occur in ``blob``."""
    data = blob.encode("utf-8", "surrogateescape") if isinstance(blob, str) else blob
    return [f"{s.name} ({form})" for s in sentinels for form, needle in s.needles
            if needle in data]


def _b64_token(nbytes: int) -> str:
    return base64.b64encode(secrets.token_bytes(nbytes)).decode()


def _key_sentinels(name: str) -> tuple[str, str, Sentinel, Sentinel]:
    key, stored = new_key()
    key_id, salt, digest = parse_stored(stored)  # type: ignore[misc]
    secret_part = key.removeprefix(f"sk-sr-{key_id}-")
    return (key, stored, Sentinel(f"{name} key", key, (secret_part,)),
            Sentinel(f"{name} key hash", stored, (salt, digest)))


@dataclass(frozen=True)
class Secrets:
    """One set of sentinel values (fresh random values for every test session)."""

    tenant_key: str
    tenant_hash: str
    other_key: str
    other_hash: str
    azure_key: str
    azure_wrong_key: str
    openai_key: str
    redis_password: str
    aws_key_id: str
    aws_secret: str
    aws_token: str
    azure_client_secret: str
    arm_client_secret: str
    pulumi_passphrase: str
    pulumi_token: str
    pulumi_config_secret: str
    entra_token: str
    sentinels: tuple[Sentinel, ...] = field(default=(), repr=False)

    @classmethod
    def fresh(cls) -> Secrets:
        """New random values; each looks like the real thing (length, alphabet)."""
        key1, hash1, key1_s, hash1_s = _key_sentinels("tenant")
        key2, hash2, key2_s, hash2_s = _key_sentinels("second tenant")
        # A Redis password with characters a URL must encode: the encoded form is a leak too.
        redis_core = secrets.token_hex(12)
        values = {
            "azure_key": secrets.token_hex(16),  # Azure keys are 32 hex digits
            "azure_wrong_key": secrets.token_hex(16),
            "openai_key": "sk-proj-" + secrets.token_urlsafe(36),
            "redis_password": f"rp/{redis_core}+@:{secrets.token_hex(6)}",
            "aws_key_id": "ASIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                                           for _ in range(16)),
            "aws_secret": _b64_token(30),
            "aws_token": _b64_token(160),
            "azure_client_secret": "azs8Q~" + secrets.token_urlsafe(27),
            "arm_client_secret": "arm8Q~" + secrets.token_urlsafe(27),
            "pulumi_passphrase": "pp-" + secrets.token_urlsafe(24),
            "pulumi_token": "pul-" + secrets.token_hex(20),
            "pulumi_config_secret": "pcs-" + secrets.token_urlsafe(24),
            "entra_token": "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(90),
        }
        sentinels = (key1_s, hash1_s, key2_s, hash2_s,
                     *(Sentinel(name, value) for name, value in values.items()
                       if name != "redis_password"),
                     Sentinel("redis_password", values["redis_password"], (redis_core,)))
        return cls(tenant_key=key1, tenant_hash=hash1, other_key=key2, other_hash=hash2,
                   sentinels=sentinels, **values)

    def without(self, *names: str) -> list[Sentinel]:
        """Every sentinel except those named (for places where one value belongs)."""
        return [s for s in self.sentinels if s.name not in names]


SECRETS = Secrets.fresh()


def cli_environment(folder: Path, s: Secrets = SECRETS) -> dict[str, str]:
    """An operator's shell holding every secret while running the toolchain.

    AWS calls (the CDK CLI looks up the default account when it finds credentials) go to a
    closed loopback port, so nothing reaches the internet; shared AWS files are not read.
    """
    from skyrelay.spec import load_spec
    from skyrelay.views.gateway_config import gateway_config

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AZURE_", "ARM_", "PULUMI_", "SKYRELAY_"))}
    secrets_dir = folder / "secrets"
    spec = load_spec(SPEC)
    for i, tenant in enumerate(spec.tenants):
        stored = s.tenant_hash if i == 0 else s.other_hash
        ref = tenant.api_key
        if ref.secret is not None:
            env[secret_env_name(ref.secret)] = stored
            path = secrets_dir / ref.secret
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(stored + "\n")
        elif ref.env is not None:
            env[ref.env] = stored
    from skyrelay.gateway.config import GatewayConfig

    config = GatewayConfig.from_dict(gateway_config(spec))
    for target in config.targets.values():
        if target.cloud == "azure":
            env[key_env_var(target)] = s.azure_key
        elif target.cloud == "openai":
            env[key_env_var(target)] = s.openai_key
    env.update({
        "SKYRELAY_SECRETS_DIR": str(secrets_dir),
        "SKYRELAY_TENANT_KEY": s.tenant_key,  # what `keys new` printed, still in the shell
        "SKYRELAY_REDIS_URL": f"rediss://:{quote(s.redis_password, safe='')}@cache.internal"
                              ":6380/0",
        "SKYRELAY_REDIS_PASSWORD": s.redis_password,
        "AWS_ACCESS_KEY_ID": s.aws_key_id,
        "AWS_SECRET_ACCESS_KEY": s.aws_secret,
        "AWS_SESSION_TOKEN": s.aws_token,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
        "AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000000aa",
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000bb",
        "AZURE_CLIENT_SECRET": s.azure_client_secret,
        "ARM_CLIENT_SECRET": s.arm_client_secret,
        "PULUMI_ACCESS_TOKEN": s.pulumi_token,
        "PULUMI_CONFIG_PASSPHRASE": s.pulumi_passphrase,
        "PULUMI_CONFIG": json.dumps({"azure-native:clientSecret": s.pulumi_config_secret}),
        "PULUMI_CONFIG_SECRET_KEYS": json.dumps(["azure-native:clientSecret"]),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    })
    return env


def scan_folder(folder: Path, sentinels: Iterable[Sentinel]) -> dict[str, list[str]]:
    """Leaks per file (path names included) under ``folder``."""
    found: dict[str, list[str]] = {}
    sentinels = list(sentinels)
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        hits = find_leaks(rel, sentinels)
        if path.is_file():
            hits += find_leaks(path.read_bytes(), sentinels)
        if hits:
            found[rel] = hits
    return found


def run_cli(*args: str, env: dict[str, str], cwd: Path = REPO,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The installed ``skyrelay`` command, as a user runs it."""
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# --- 0. the grep itself ---------------------------------------------------------------

def test_the_leak_finder_finds_every_form_and_nothing_else() -> None:
    core = secrets.token_hex(20)
    s = Sentinel("probe", f"p/{core} +@:", (core,))
    raw = s.value.encode()
    # (where the value sits, the form that must be reported for it)
    embedded = [
        (b"x=" + raw + b";", "raw"),
        (b"redis://:" + quote(s.value, safe="").encode() + b"@h", "url-encoded"),
        (b"p=" + quote_plus(s.value).encode(), "form-encoded"),
        (base64.b64encode(raw + b"tail"), "base64@0"),
        (base64.b64encode(b"a" + raw), "base64@1"),
        (base64.b64encode(b"ab" + raw + b"z"), "base64@2"),
        (base64.urlsafe_b64encode(b'{"k": "' + raw + b'"}'), "base64url@1"),
        (b"message: ..." + raw[:WINDOW + STEP + 1], "fragment@0"),  # cut short
        (raw[-(WINDOW + STEP):], "fragment@24"),  # only its end
        (raw[:WINDOW + STEP] + b"****" + raw[-4:], "fragment@0"),  # masked
    ]
    for blob, form in embedded:
        found = find_leaks(blob, [s])
        # base64url is its own needle only where the value's base64 holds '+' or '/'
        assert f"probe ({form})" in [f.replace("base64@", "base64url@") if "url" in form
                                     else f for f in found], (form, blob, found)
    # Shorter pieces, other values, the public prefix of a tenant key: no false alarms.
    key = SECRETS.sentinels[0]
    assert key.name == "tenant key"
    public = "sk-sr-" + SECRETS.tenant_key.split("-")[2] + "-"
    for blob in (raw[:WINDOW - 1], secrets.token_hex(40).encode(), public.encode(),
                 json.dumps({"sentinels": [x.name for x in SECRETS.sentinels]}).encode()):
        assert find_leaks(blob, [s, key]) == [], blob
    # Every sentinel is found in its own raw form, and in each of its cores.
    for sentinel in SECRETS.sentinels:
        assert find_leaks(b"<" + sentinel.value.encode() + b">", [sentinel])
        for c in sentinel.cores:
            assert find_leaks(c, [sentinel]), (sentinel.name, c)


# --- 1. synth ---------------------------------------------------------------------------

@dataclass
class Synthesized:
    """One ``skyrelay synth`` run with every secret in its environment."""

    outdir: Path
    output: str
    env: dict[str, str]
    folder: Path


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """``skyrelay synth examples/platform.yaml -o <tmp>`` once for this module."""
    if not (REPO / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("the pinned CDK CLI is missing: run `npm ci` (make install)")
    folder = tmp_path_factory.mktemp("secrets-synth")
    env = cli_environment(folder)
    outdir = folder / "cdk.out"
    proc = run_cli("synth", str(SPEC), "-o", str(outdir), env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield Synthesized(outdir, proc.stdout + proc.stderr, env, folder)


@pytest.mark.slow
def test_synth_output_holds_no_secret(synthesized: Synthesized) -> None:
    from skyrelay.spec import load_spec

    out = synthesized.outdir
    files = [p for p in out.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    # The whole output is scanned: templates, manifests, staged assets, the Azure plan.
    assert "manifest.json" in names and "azure-plan.json" in names
    assert any(n.endswith(".template.json") for n in names)
    assert any(p.parent.name.startswith("asset.") or p.name.startswith("asset.")
               for p in out.rglob("*"))
    assert scan_folder(out, SECRETS.sentinels) == {}
    assert find_leaks(synthesized.output, SECRETS.sentinels) == []

    # The same grep finds values that are there: a Bedrock model id in the templates and
    # the Azure account's subdomain in the plan (so an empty result above means something).
    spec = load_spec(SPEC)
    model_id = next(iter(spec.aws.regions.values())).bedrock_models[0].model_id
    account = spec.azure.accounts[0]
    subdomain = account.custom_subdomain or account.name
    assert any(name.endswith(".template.json")
               for name in scan_folder(out, [Sentinel("control", model_id)]))
    assert "azure-plan.json" in scan_folder(out, [Sentinel("control", subdomain)])
    # ... and the gateway stack does carry the secrets' *names*: its key references.
    gateway = next(p for p in files if p.name.endswith("-gateway.template.json"))
    assert "skyrelay/tenants/web-app" in gateway.read_text()


@pytest.mark.slow
def test_cli_outputs_hold_no_secret(synthesized: Synthesized, tmp_path: Path) -> None:
    env = synthesized.env
    commands = {
        "validate": ["validate", str(SPEC)],
        "validate --json": ["validate", str(SPEC), "--json"],
        "plan --json": ["plan", str(SPEC), "--json"],
        "plan --html": ["plan", str(SPEC), "--html", str(tmp_path / "plan.html")],
        "check --json": ["check", str(SPEC), "--from", str(synthesized.outdir), "--json"],
        "gateway config": ["gateway", "config", str(SPEC)],
    }
    procs = {what: run_cli(*args, env=env) for what, args in commands.items()}
    for what, proc in procs.items():
        assert proc.returncode == 0, (what, proc.stdout + proc.stderr)
    outputs = {what: proc.stdout + proc.stderr for what, proc in procs.items()}
    outputs["plan.html"] = (tmp_path / "plan.html").read_text()
    # Each ran for real: the plan lists Azure resources, the check ran rules, the config
    # names the tenants' key references (not their values).
    assert json.loads(procs["plan --json"].stdout)["azure_resources"]
    assert json.loads(procs["check --json"].stdout)
    config = json.loads(procs["gateway config"].stdout)
    assert config["tenants"]["web-app"]["api_key"] == {"secret": "skyrelay/tenants/web-app"}
    leaks = {what: find_leaks(text, SECRETS.sentinels) for what, text in outputs.items()}
    assert {what: hits for what, hits in leaks.items() if hits} == {}


def test_keys_new_prints_the_key_once_and_its_hash(tmp_path: Path) -> None:
    env = cli_environment(tmp_path)
    text = run_cli("keys", "new", "web-app", env=env)
    as_json = run_cli("keys", "new", "web-app", "--json", env=env)
    assert text.returncode == 0 and as_json.returncode == 0
    doc = json.loads(as_json.stdout)
    for out, (key, stored) in ((text.stdout, _printed_pair(text.stdout)),
                               (as_json.stdout, (doc["key"], doc["hash"]))):
        assert out.count(key) == 1 and out.count(stored) == 1
        key_id, salt, digest = parse_stored(stored)  # type: ignore[misc]
        secret_part = key.removeprefix(f"sk-sr-{key_id}-")
        assert len(secret_part) == 43 and out.count(secret_part) == 1
        # The hash is of this key (the gateway accepts it), and it does not contain the key.
        cfg = base_config({"a": {}}, {"chat": {"targets": ["a"]}},
                          tenants={"web-app": {"api_key": {"env": "K"}, "routes": ["chat"],
                                               "classification": "public"}})
        assert HashedKeys(cfg, environ={"K": stored}).authenticate(f"Bearer {key}", None)
        assert find_leaks(stored, [Sentinel("key", key, (secret_part,))]) == []
        assert find_leaks(out, SECRETS.sentinels) == []
    assert doc["key"] not in text.stdout  # a fresh key each time


def _printed_pair(out: str) -> tuple[str, str]:
    lines = [line.strip() for line in out.splitlines()]
    key = next(line for line in lines if line.startswith("sk-sr-"))
    stored = next(line for line in lines if line.startswith("sha256$"))
    return key, stored


def test_link_outputs_hold_no_secret(tmp_path: Path) -> None:
    env = cli_environment(tmp_path)
    pulumi_dir = tmp_path / "pulumi"
    pulumi_dir.mkdir()
    # A stack config with an encrypted value, as `pulumi config set --secret` leaves it.
    ciphertext = "v1:" + _b64_token(48)
    stack = (LINK_FIXTURES / "Pulumi.prod.yaml").read_text()
    stack += f"  azure-native:clientSecret:\n    secure: {ciphertext}\n"
    (pulumi_dir / "Pulumi.prod.yaml").write_text(stack)
    out = tmp_path / "link"
    proc = run_cli("link", str(SPEC), "--cdk-outputs", str(LINK_FIXTURES / "cdk-outputs.json"),
                   "--pulumi-outputs", str(LINK_FIXTURES / "pulumi-outputs.json"),
                   "--stack", "prod", "--pulumi-dir", str(pulumi_dir), "--out", str(out),
                   env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written and all(name.endswith("-gateway-config.json") for name in written)
    assert "gatewayEgressIps" in (pulumi_dir / "Pulumi.prod.yaml").read_text()
    cipher = Sentinel("stack secret ciphertext", ciphertext)
    assert find_leaks(proc.stdout + proc.stderr, [*SECRETS.sentinels, cipher]) == []
    assert scan_folder(out, [*SECRETS.sentinels, cipher]) == {}
    assert scan_folder(pulumi_dir, SECRETS.sentinels) == {}
    # The encrypted value the operator stored is kept as it was, not dropped or decrypted.
    assert ciphertext in (pulumi_dir / "Pulumi.prod.yaml").read_text()


# --- 2. the gateway at runtime ---------------------------------------------------------

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details.\n\nThe Canonical String for this request should have been\n'")


class LocalServer:
    """An aiohttp app on 127.0.0.1 in a daemon thread (TLS with ``ssl``); records requests.

    Subclasses add routes in :meth:`routes`. Stops on exit, or by itself after 120 s.
    """

    scheme = "http"

    def __init__(self, ssl_context: Any = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._ssl = ssl_context
        self._ready = threading.Event()
        self._stop: Any = None
        self._loop: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        """Add the server's routes."""
        raise NotImplementedError

    async def record(self, request: web.Request) -> tuple[dict[str, str], bytes]:
        """Keep path, headers and body of ``request``; return headers and body."""
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append({"path": request.path_qs, "headers": headers, "body": body})
        return headers, body

    def __enter__(self) -> Any:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        import asyncio

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            app = web.Application()
            self.routes(app)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            try:
                await asyncio.wait_for(self._stop.wait(), 120)
            except TimeoutError:
                pass
            finally:
                await runner.cleanup()

        asyncio.run(serve())


class QuotingUpstream(LocalServer):
    """An upstream that refuses every request and quotes the credential it was sent.

    ``/model/...`` answers like AWS does for a bad signature: 403
    ``InvalidSignatureException`` whose message holds the canonical request, signed headers
    and all (``x-amz-security-token`` included). Other paths answer 401 quoting the key, as
    some OpenAI-compatible proxies do.
    """

    def routes(self, app: web.Application) -> None:
        """Every POST."""
        app.router.add_post("/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        headers, _ = await self.record(request)
        if request.path.startswith("/model/"):
            signed = (headers.get("authorization", "").partition("SignedHeaders=")[2]
                      .partition(",")[0].split(";"))
            canonical = "".join(f"{h}:{headers.get(h, '')}\n" for h in signed if h)
            message = (f"{SIGNATURE_MISMATCH}POST\n{request.raw_path}\n\n{canonical}\n"
                       f"{';'.join(signed)}\n{headers.get('x-amz-content-sha256', '')}'\n")
            return web.json_response({"message": message}, status=403,
                                     headers={"x-amzn-errortype": "InvalidSignatureException"})
        sent = headers.get("api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        return web.json_response({"error": {
            "message": f"Incorrect API key provided: {sent}.", "type": "invalid_request_error",
            "param": None, "code": "invalid_api_key"}}, status=401)


def local_tls(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM file) and a server context for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(name: str, key: Any, issuer: str, signer: Any,
             extensions: list[tuple[Any, bool]]) -> Any:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=2)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("skyrelay test CA", ca_key, "skyrelay test CA", ca_key, [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)])
    leaf = cert("127.0.0.1", key, "skyrelay test CA", ca_key, [
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
         False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False)])
    ca_file, chain = folder / "ca.pem", folder / "server.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return ca_file, context


class LocalEntra(LocalServer):
    """A Microsoft Entra authority: OpenID metadata and the client-credentials token
    endpoint (what azure-identity's ClientSecretCredential talks to, via MSAL).

    The first ``refuse`` token requests get AADSTS7000215 (invalid client secret), the
    rest ``token``.
    """

    def __init__(self, ssl_context: ssl.SSLContext, token: str, refuse: int = 0) -> None:
        super().__init__(ssl_context)
        self.token = token
        self.refuse = refuse

    def routes(self, app: web.Application) -> None:
        """Metadata and token endpoints of any tenant."""
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._metadata)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)

    async def _metadata(self, request: web.Request) -> web.Response:
        await self.record(request)
        base = f"{self.url}/{request.match_info['tenant']}"
        return web.json_response({
            "issuer": f"{base}/v2.0", "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"})

    async def _token(self, request: web.Request) -> web.Response:
        await self.record(request)
        if self.refuse > 0:
            self.refuse -= 1
            return web.json_response({
                "error": "invalid_client", "error_codes": [7000215],
                "error_description": "AADSTS7000215: Invalid client secret provided. Ensure "
                "the secret being sent in the request is the client secret value, not the "
                "client secret ID, for a secret added to app "
                f"'{(await request.post()).get('client_id')}'."}, status=401)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599,
                                  "ext_expires_in": 3599, "access_token": self.token})


def test_a_quoted_credential_is_redacted_before_the_message_is_cut() -> None:
    from skyrelay.gateway.providers.openai_compat import MAX_ERROR_BYTES, error_from_response

    key = SECRETS.openai_key
    sentinel = next(x for x in SECRETS.sentinels if x.name == "openai_key")
    # The key straddles the 1000-character cut of the message, and of the 200-character
    # snippet of a body that is not JSON: redacting after the cut would miss its head.
    long = json.dumps({"error": {"message": "x" * 970 + key, "code": "invalid_api_key"}})
    plain = ("y" * 175 + key).encode()
    for raw in (long.encode(), plain):
        err = error_from_response(401, {}, raw, ["", key])
        assert err.kind == "auth" and "[redacted]" in err.message
        assert find_leaks(err.message, [sentinel]) == [], err.message
        assert find_leaks(error_from_response(401, {}, raw).message, [sentinel])  # unredacted
    assert len(plain) < MAX_ERROR_BYTES


def _aws_environment(mp: pytest.MonkeyPatch, folder: Path, s: Secrets) -> None:
    """botocore's chain finds exactly the sentinel credentials (no files, no IMDS)."""
    mp.delenv("AWS_PROFILE", raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", s.aws_key_id)
    mp.setenv("AWS_SECRET_ACCESS_KEY", s.aws_secret)
    mp.setenv("AWS_SESSION_TOKEN", s.aws_token)
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
    mp.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))


def _gateway_config(azure: str, west: str, bedrock: str, quoting: str,
                    entra: str | None = None) -> dict[str, Any]:
    """Targets on every wire format and credential kind; tenants with env and secret refs.

    Without ``entra`` there is no Entra target (nothing may ask login.microsoftonline.com).
    """
    doc = base_config_dict(
        {"east": {"cloud": "azure", "account": "aoai-east", "model": "gpt-4o",
                  "region": "eastus", "endpoint": azure},
         "east-faulty": {"cloud": "azure", "account": "aoai-east", "model": "dep-f",
                         "region": "eastus", "endpoint": azure},
         "west": {"cloud": "azure", "account": "aoai-west", "model": "gpt-4o",
                  "region": "westus", "endpoint": west},
         "claude": {"cloud": "bedrock", "model": "us.anthropic.claude-test-v1:0",
                    "region": "us-east-1", "endpoint": bedrock},
         "signed": {"cloud": "bedrock", "model": "us.anthropic.claude-signed-v1:0",
                    "region": "us-east-1", "endpoint": quoting},
         "echo": {"cloud": "openai", "account": "echo", "model": "m-echo",
                  "endpoint": quoting + "/v1"},
         # no api key for this account: Microsoft Entra tokens (the production default)
         "entra": {"cloud": "azure", "account": "aoai-entra", "model": "gpt-4o",
                   "region": "swedencentral"}},
        {"chat": {"targets": ["east"], "max_attempts": 1},
         "faulty": {"targets": ["east-faulty"], "max_attempts": 1},
         "west": {"targets": ["west"], "max_attempts": 1},
         "fallback": {"targets": ["west", "east"], "max_attempts": 2},
         "claude": {"targets": ["claude"], "max_attempts": 1},
         "signed": {"targets": ["signed"], "max_attempts": 1},
         "echo": {"targets": ["echo"], "max_attempts": 1},
         "entra": {"targets": ["entra"], "max_attempts": 1}},
        tenants={"t1": {"api_key": {"env": "T1_KEY_HASH"}, "classification": "public",
                        "routes": ["chat", "faulty", "west", "fallback", "claude", "signed",
                                   "echo", "entra"]},
                 "t2": {"api_key": {"secret": "tenants/t2"}, "classification": "public",
                        "routes": ["chat", "claude"]},
                 # Its variable holds a key instead of a hash (an operator's slip): refused,
                 # and the warning about it must not quote the value.
                 "t3": {"api_key": {"env": "T3_KEY_HASH"}, "classification": "public",
                        "routes": ["chat"]}})
    if entra is None:
        del doc["targets"]["entra"], doc["routes"]["entra"]
        doc["tenants"]["t1"]["routes"].remove("entra")
    else:
        doc["targets"]["entra"]["endpoint"] = entra
    return doc


@dataclass
class Seen:
    """Everything the gateway said: each response as status, headers and body."""

    responses: dict[str, httpx.Response] = field(default_factory=dict)

    def text(self) -> str:
        """All responses as one text (headers and bodies)."""
        return "\n".join(f"{what}: {r.status_code} {dict(r.headers)} {r.text}"
                         for what, r in self.responses.items())


def _drive(url: str, s: Secrets, azure: OpenAIUpstream, bedrock: BedrockUpstream,
           redis: RedisServer) -> Seen:
    """Successes, upstream failures, wrong keys and Redis going away, in that order."""
    seen = Seen()
    t1 = {"authorization": f"Bearer {s.tenant_key}"}
    t2 = {"api-key": s.other_key}
    with httpx.Client(base_url=url, timeout=30) as http:
        def post(what: str, model: str, headers: dict[str, str], stream: bool = False
                 ) -> httpx.Response:
            body: dict[str, Any] = {"model": model, "messages": MSG}
            if stream:
                body["stream"] = True
            seen.responses[what] = r = http.post("/v1/chat/completions", json=body,
                                                 headers=headers)
            return r

        for path in ("/healthz", "/readyz", "/openapi.json", "/metrics"):
            seen.responses[f"GET {path} (start)"] = http.get(path, headers=OPS_HEADERS)
        seen.responses["models t1"] = http.get("/v1/models", headers=t1)
        seen.responses["models t2"] = http.get("/v1/models", headers=t2)
        assert seen.responses["models t2"].status_code == 200

        assert post("azure json", "chat", t1).status_code == 200
        assert "[DONE]" in post("azure stream", "chat", t2, stream=True).text
        assert post("bedrock json", "claude", t1).status_code == 200
        assert "[DONE]" in post("bedrock stream", "claude", t2, stream=True).text

        wrong = post("azure wrong upstream key", "west", t1)
        assert wrong.status_code == 502 and wrong.json()["error"]["code"] == "upstream_auth"
        assert post("fallback after 401", "fallback", t1).status_code == 200

        # Two faults, then a success, so the target's breaker (3 in a row) never opens.
        for fault in ("500", "reset_before_headers"):
            azure.fault(fault, model="dep-f")
            assert post(f"azure {fault}", "faulty", t1).status_code == 502
        assert post("azure recovered", "faulty", t1).status_code == 200
        azure.fault("reset_after_headers", model="dep-f")
        assert post("azure reset_after_headers", "faulty", t1).status_code == 502
        azure.fault("cut_stream", model="dep-f")
        cut = post("azure cut stream", "faulty", t1, stream=True)
        assert cut.status_code == 200 and '"error"' in cut.text and "[DONE]" not in cut.text
        assert azure.pending_faults() == 0
        for fault in ("500", "reset"):
            bedrock.fault(fault)
            assert post(f"bedrock {fault}", "claude", t1).status_code == 502

        # Upstreams that quote the refused credential: the gateway's own credential problem
        # (502 upstream_auth, never the client's fault) and nothing of the credential shown.
        for stream in (False, True):
            mode = "stream" if stream else "json"
            for route in ("echo", "signed"):
                r = post(f"{route} refuses ({mode})", route, t1, stream=stream)
                assert r.status_code == 502, r.text
                assert r.json()["error"]["code"] == "upstream_auth", r.text

        refused = post("entra token refused", "entra", t1)
        assert refused.status_code == 502, refused.text
        assert refused.json()["error"]["code"] == "upstream_auth"
        assert post("entra json", "entra", t1).status_code == 200
        assert "[DONE]" in post("entra stream", "entra", t1, stream=True).text

        key_id = s.tenant_key.split("-")[2]
        for what, headers in {
            "tenant key altered": {"authorization": f"Bearer {_altered(s.tenant_key)}"},
            "tenant key altered (api-key)": {"api-key": _altered(s.tenant_key, 5)},
            "tenant key too long": {"authorization": f"Bearer {s.tenant_key}x"},
            "stored hash as key": {"authorization": f"Bearer {s.tenant_hash}"},
            "unknown key id": {"api-key": s.tenant_key.replace(key_id, "0" * 12)},
        }.items():
            assert post(what, "chat", headers).status_code == 401
            seen.responses[f"{what} (models)"] = http.get("/v1/models", headers=headers)

        redis.stop()
        away = post("redis away", "chat", t1)
        assert away.status_code == 503 and away.json()["error"]["code"] == "state_unavailable"
        for path in ("/healthz", "/readyz", "/openapi.json", "/metrics"):
            seen.responses[f"GET {path} (end)"] = http.get(path, headers=OPS_HEADERS)
        assert seen.responses["GET /readyz (end)"].json()["state_store"] == "unreachable"
    return seen


def _altered(key: str, at: int = 1) -> str:
    """``key`` with its ``at``-th character from the end changed (never to itself)."""
    i = len(key) - at
    return key[:i] + ("A" if key[i] != "A" else "B") + key[i + 1:]


def _request_text(request: dict[str, Any], *skip_headers: str) -> bytes:
    headers = {k: v for k, v in request["headers"].items() if k not in skip_headers}
    body = request["body"] if isinstance(request["body"], bytes) else json.dumps(
        request["body"]).encode()
    return (f"{request.get('path', '')} {request.get('query', '')} {headers} ".encode()
            + body)


def test_gateway_leaks_no_secret_and_sends_each_upstream_its_own(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    s = SECRETS
    caplog.set_level(logging.DEBUG)
    redis = RedisServer(free_port(), tmp_path, password=s.redis_password).start()
    ca_file, tls = local_tls(tmp_path)
    out = io.BytesIO()
    try:
        with pytest.MonkeyPatch.context() as mp, \
                OpenAIUpstream(api_key=s.azure_key) as azure, \
                OpenAIUpstream(api_key="the-key-aoai-west-really-has") as west, \
                OpenAIUpstream(bearer_token=s.entra_token) as entra, \
                LocalEntra(tls, s.entra_token, refuse=1) as authority, \
                BedrockUpstream() as bedrock, QuotingUpstream() as quoting:
            _aws_environment(mp, tmp_path, s)
            # The gateway's Entra identity, as ECS injects it from the azure-credential secret.
            mp.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-0000000000aa")
            mp.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000000bb")
            mp.setenv("AZURE_CLIENT_SECRET", s.azure_client_secret)
            mp.setenv("AZURE_AUTHORITY_HOST", authority.url)
            mp.delenv("SKYRELAY_AZURE_KEY_AOAI_ENTRA", raising=False)
            for name in ("SKYRELAY_SECRETS_DIR", "SKYRELAY_GATEWAY_CONFIG"):
                mp.delenv(name, raising=False)
            mp.setenv("T1_KEY_HASH", s.tenant_hash)
            mp.setenv(secret_env_name("tenants/t2"), s.other_hash)
            mp.setenv("T3_KEY_HASH", s.tenant_key)
            mp.setenv("SKYRELAY_AZURE_KEY_AOAI_EAST", s.azure_key)
            mp.setenv("SKYRELAY_AZURE_KEY_AOAI_WEST", s.azure_wrong_key)
            mp.setenv("SKYRELAY_OPENAI_KEY_ECHO", s.openai_key)
            mp.setenv("SKYRELAY_REDIS_URL", f"redis://127.0.0.1:{redis.port}/0")
            mp.setenv("SKYRELAY_REDIS_PASSWORD", s.redis_password)
            from azure.identity import EnvironmentCredential

            from skyrelay.gateway.config import GatewayConfig

            cfg = GatewayConfig.from_dict(_gateway_config(azure.url, west.url, bedrock.url,
                                                          quoting.url, entra.url))
            # azure-identity's own credential from the environment; only the authority's
            # certificate and "no instance discovery" (no call to login.microsoftonline.com)
            # differ from production.
            tokens = EntraTokenCache(lambda: EnvironmentCredential(
                disable_instance_discovery=True, connection_verify=str(ca_file)))
            hooks = build_hooks(os.environ, meter=Meter(stream=out))
            app = build_app(cfg, providers=ProviderRegistry(cfg, tokens=tokens),
                            probe_interval=0, authenticator=HashedKeys(cfg), hooks=hooks,
                            ops=ops_for_tests())
            server = ServerThread(app).start()
            try:
                seen = _drive(server.url, s, azure, bedrock, redis)
            finally:
                server.stop()  # flushes the usage records
    finally:
        redis.stop()
    captured = capfd.readouterr()
    records = out.getvalue()
    assert len(records.splitlines()) >= 17  # a usage record for every admitted request

    places = {
        "responses": seen.text(),
        "usage records (EMF)": records,
        "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records),
        "stdout": captured.out,
        "stderr": captured.err,
    }
    assert "hello there" not in records.decode()
    assert "without a usable key hash (cannot authenticate): t3" in caplog.text
    leaks = {where: find_leaks(text, s.sentinels) for where, text in places.items()}
    assert {where: hits for where, hits in leaks.items() if hits} == {}

    # Each upstream got its own credential, in its own header, and nothing else of ours.
    assert azure.requests and west.requests and quoting.requests and bedrock.bodies
    for request in azure.requests:
        assert request["headers"]["api-key"] == s.azure_key
        assert "authorization" not in request["headers"]
        assert find_leaks(_request_text(request, "api-key"), s.sentinels) == []
    for request in west.requests:
        assert request["headers"]["api-key"] == s.azure_wrong_key
        assert find_leaks(_request_text(request, "api-key"), s.sentinels) == []
    for body in bedrock.bodies:
        assert find_leaks(json.dumps(body), s.sentinels) == []
    kinds = set()
    for request in quoting.requests:
        headers = request["headers"]
        if request["path"].startswith("/model/"):
            kinds.add("bedrock")
            assert headers["authorization"].startswith(
                f"AWS4-HMAC-SHA256 Credential={s.aws_key_id}/")
            assert headers["x-amz-security-token"] == s.aws_token
            assert find_leaks(headers["authorization"],
                              s.without("aws_key_id")) == []  # a signature, not the secret
            assert find_leaks(_request_text(request, "authorization", "x-amz-security-token"),
                              s.sentinels) == []
        else:
            kinds.add("openai")
            assert headers["authorization"] == f"Bearer {s.openai_key}"
            assert "api-key" not in headers
            assert find_leaks(_request_text(request, "authorization"), s.sentinels) == []
    assert kinds == {"bedrock", "openai"}
    for request in entra.requests:
        assert request["headers"]["authorization"] == f"Bearer {s.entra_token}"
        assert "api-key" not in request["headers"]
        assert find_leaks(_request_text(request, "authorization"), s.sentinels) == []
    # The client secret went to the authority's token endpoint, in the form body, only.
    token_requests = [r for r in authority.requests if r["path"].endswith("/token")]
    assert len(token_requests) == 2 and len(authority.requests) >= 3
    for request in authority.requests:
        form = dict(parse_qsl(request["body"].decode()))
        if request in token_requests:
            assert form.pop("client_secret") == s.azure_client_secret
        rest = {**request, "body": urlencode(form).encode()}
        assert find_leaks(_request_text(rest), s.sentinels) == []


# --- 3. `skyrelay gateway serve` as a process ------------------------------------------

def test_gateway_serve_process_prints_no_secret(tmp_path: Path) -> None:
    s = SECRETS
    redis = RedisServer(free_port(), tmp_path, password=s.redis_password).start()
    log = tmp_path / "serve.log"
    try:
        with OpenAIUpstream(api_key=s.azure_key) as azure, \
                OpenAIUpstream(api_key="the-key-aoai-west-really-has") as west, \
                BedrockUpstream() as bedrock, QuotingUpstream() as quoting:
            env = cli_environment(tmp_path)
            env.pop("SKYRELAY_SECRETS_DIR")
            env.update({
                "T1_KEY_HASH": s.tenant_hash,
                secret_env_name("tenants/t2"): s.other_hash,
                "T3_KEY_HASH": s.tenant_key,
                "SKYRELAY_AZURE_KEY_AOAI_EAST": s.azure_key,
                "SKYRELAY_AZURE_KEY_AOAI_WEST": s.azure_wrong_key,
                "SKYRELAY_OPENAI_KEY_ECHO": s.openai_key,
                "SKYRELAY_REDIS_URL": f"redis://:{quote(s.redis_password, safe='')}"
                                      f"@127.0.0.1:{redis.port}/0",
                "SKYRELAY_GATEWAY_CONFIG": json.dumps(_gateway_config(
                    azure.url, west.url, bedrock.url, quoting.url)),
                "PYTHONUNBUFFERED": "1",
            })
            del env["SKYRELAY_REDIS_PASSWORD"]  # the password travels in the URL this time
            port = free_port()
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    [CLI, "gateway", "serve", "--config-env", "SKYRELAY_GATEWAY_CONFIG",
                     "--port", str(port), "--log-level", "debug"],
                    cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
                try:
                    statuses = _drive_process(f"http://127.0.0.1:{port}", s, proc, log, redis)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                        raise
    finally:
        redis.stop()
    assert statuses == {"azure": 200, "bedrock": 200, "west": 502, "signed": 502,
                        "echo": 502, "wrong key": 401, "redis away": 503}
    text = log.read_bytes()
    assert b"DEBUG" in text and b"upstream clients closed" in text  # it did log, at debug
    assert b"without a usable key hash (cannot authenticate): t3" in text
    # a usage record for each request but the unauthenticated one
    assert len([line for line in text.splitlines() if line.startswith(b'{"_aws"')]) == 6
    assert find_leaks(text, s.sentinels) == []


def _drive_process(url: str, s: Secrets, proc: subprocess.Popen[bytes], log: Path,
                   redis: RedisServer) -> dict[str, int]:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    t1 = {"authorization": f"Bearer {s.tenant_key}"}
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=url, timeout=30) as http:
        for what, route in (("azure", "chat"), ("bedrock", "claude"), ("west", "west"),
                            ("signed", "signed"), ("echo", "echo")):
            statuses[what] = http.post("/v1/chat/completions", headers=t1,
                                       json={"model": route, "messages": MSG}).status_code
        statuses["wrong key"] = http.post(
            "/v1/chat/completions", headers={"api-key": _altered(s.tenant_key)},
            json={"model": "chat", "messages": MSG}).status_code
        redis.stop()
        statuses["redis away"] = http.post("/v1/chat/completions", headers=t1,
                                           json={"model": "chat", "messages": MSG}).status_code
        http.get("/readyz")
    return statuses
