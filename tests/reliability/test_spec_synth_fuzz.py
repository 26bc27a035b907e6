"""Property: a spec that validates builds everywhere; a spec that does not says where.

Two families of documents:

* the default spec with one value replaced by an arbitrary one (the mistakes people make),
  whose errors must each carry a line inside the document and a field path that leads into
  it (``tests/skyrelay/spec/test_spec_fuzz.py`` proves "Spec or SpecError, nothing else");
* *plausible* specs built from the pieces synth cares about (regions of both clouds, SKUs,
  Bedrock profile prefixes, classifications, budgets, names at their length limits, fine-tuning
  and gateway settings, odd key references), most of which validate.

Every plausible spec that validates must then survive what ``skyrelay synth`` and
``skyrelay check`` do with it: the gateway config fits its SSM parameter and gives every key
reference its own variable, the Azure program under mocks builds without refusing (and
without two resources sharing a URN, which the real engine rejects), the CDK app synthesizes
with the three compliance packs registered and no error, cfn-lint accepts the templates,
and no error-level rule of ``skyrelay check`` fails.

CDK synth costs seconds per app, so the synth test runs few examples by default; set
``SKYRELAY_FUZZ_EXAMPLES`` for a longer run (``make soak``). Examples are derandomized, so
CI sees the same ones every run.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from skyrelay import aws_zones, regions
from skyrelay.catalog import load_catalog
from skyrelay.spec import Spec, SpecError, parse_spec_text

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20,22")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())

#: Synthesized examples per run of the synth test (``make soak`` raises it).
SYNTH_EXAMPLES = int(os.environ.get("SKYRELAY_FUZZ_EXAMPLES", "10"))
#: The cheaper layers (validation, gateway config, Azure plan, rules) run more examples.
PLAN_EXAMPLES = max(100, SYNTH_EXAMPLES * 10)
#: cfn-lint costs about half a second per template: lint this many synthesized examples.
LINT_EXAMPLES = max(3, SYNTH_EXAMPLES // 4)


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# --- 1. every problem is located -----------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["us-east-1", "eu", "any", "-1", "Standard", ""]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(DEFAULT) if p]


def _leads_into(doc: Any, path: tuple[str | int, ...]) -> bool:
    """True when every part of ``path`` but the last exists in ``doc`` (the last may name a
    missing key or a defaulted field of an existing mapping)."""
    node = doc
    for part in path[:-1]:
        listed = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if listed or isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return isinstance(node, dict | list)


def assert_located(err: SpecError, text: str, file: str = "fuzz.yaml") -> None:
    """Every issue names the file, a line of the document and a field path leading into it."""
    assert err.issues
    # BaseLoader: every key as text, as the loader's paths hold them (list indices are ints).
    doc = yaml.load(text, Loader=yaml.BaseLoader)
    lines = max(1, len(text.splitlines()))
    for issue in err.issues:
        where = str(issue)
        assert issue.file == file, where
        assert issue.message.strip(), where
        assert issue.line is not None and 1 <= issue.line <= lines, where
        assert issue.path, f"no field path: {where}"
        assert str(issue).startswith(f"{file}:{issue.line}: {issue.dotted}: "), where
        text_path = tuple(p if isinstance(p, int) else str(p) for p in issue.path)
        assert _leads_into(doc, text_path), f"path does not lead into the document: {where}"


def _replace(path: tuple[Any, ...], value: Any) -> str:
    doc = copy.deepcopy(DEFAULT)
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return yaml.safe_dump(doc, sort_keys=False)


@_settings(300)
@given(st.sampled_from(PATHS), values)
def test_errors_in_a_mapping_document_have_line_and_path(path: tuple[Any, ...],
                                                         value: Any) -> None:
    text = _replace(path, value)
    try:
        parse_spec_text(text, "fuzz.yaml")
    except SpecError as err:
        assert_located(err, text)


# --- 2. plausible specs ----------------------------------------------------------------

AWS_REGIONS = sorted(regions.AWS_REGIONS)
AZURE_LOCATIONS = sorted(regions.AZURE_REGIONS)
PREFIXES = sorted([*regions.BEDROCK_PROFILE_DESTINATIONS, regions.BEDROCK_GLOBAL_PREFIX])
CHAT_MODELS = ["anthropic.claude-sonnet-4-20250514-v1:0", "amazon.nova-pro-v1:0",
               "openai.gpt-oss-120b-1:0", "meta.llama3-3-70b-instruct-v1:0",
               "mistral.mistral-large-2407-v1:0", "deepseek.r1-v1:0"]
EMBEDDING_MODELS = ["amazon.titan-embed-text-v2:0", "cohere.embed-multilingual-v3"]
LONG = "x" * 61

#: Names: short, with double hyphens, digits first, at the 63-character limit.
names = st.one_of(
    st.sampled_from(["a", "0", "a-b", "a--b", "ab", "acme-ai", "x9", f"a{LONG}b", "p-q-r"]),
    st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?\Z"),
)
#: Platform names start with a letter (they begin every stack name); now and then a digit
#: first, to see it refused with a location.
platform_names = st.one_of(
    st.sampled_from(["a", "a-b", "a--b", "acme-ai", "x9", f"a{LONG}b", "p-q-r", "acme"]),
    st.from_regex(r"\A[a-z]([a-z0-9-]{0,12}[a-z0-9])?\Z"),
)
route_names = st.sampled_from([
    "gpt-4o", "chat", "Chat.v2", "team/chat:latest", "a", "0", "emb_1", "x" * 128,
    "gpt-4o-mini", "claude-sonnet"])
#: Key references: "SKYRELAY_SECRET_TEAM_A" is the variable of secret "team-a" and of
#: "Team-A"; "skyrelay.tenants.a" shares one with "skyrelay/tenants/a".
env_vars = st.sampled_from(["SKYRELAY_KEY_A", "SKYRELAY_KEY_B", "KEY", "_",
                            "SKYRELAY_SECRET_TEAM_A", "K" * 200])
secret_names = st.sampled_from([
    "skyrelay/tenants/a", "skyrelay/tenants/b", "skyrelay.tenants.a", "team-a",
    "Team-A", "a@b+c=d", "s" * 512, "t/" * 100 + "x"])
emails = st.sampled_from(["oncall@example.com", "a.b+c@sub.example.org", "x@y.zz"])


def _cidr(i: int, prefix: int) -> str:
    """A distinct private range per region index (0-2)."""
    return f"10.{i * 4}.0.0/{prefix}" if i % 2 == 0 else f"172.{16 + i}.0.0/{prefix}"


def rarely(draw: st.DrawFn) -> bool:
    """True about one draw in twelve (for values validation should refuse, with a location).

    Not a boolean: Hypothesis favours the ends of a range, so ``integers(0, 11) == 0``
    would come up far more often than one in twelve."""
    return draw(st.integers(0, 11)) == 5


@st.composite
def key_refs(draw: st.DrawFn) -> dict[str, str]:
    """``{env: VAR}`` or ``{secret: NAME}``; rarely a variable the platform sets itself."""
    if rarely(draw):
        return {"env": draw(st.sampled_from(
            ["SKYRELAY_GATEWAY_CONFIG", "SKYRELAY_REDIS_PASSWORD", "AZURE_CLIENT_SECRET"]))}
    if draw(st.booleans()):
        return {"env": draw(env_vars)}
    return {"secret": draw(secret_names)}


def catalog_bedrock_ids(region: str, kind: str) -> list[str]:
    """Ids the model catalog says are callable from ``region`` (on demand or by profile)."""
    cat = load_catalog()
    ids = [m.id for m in cat.bedrock_models.values() if m.kind == kind
           and (a := m.availability.get(region)) is not None and a.on_demand]
    ids += [p.id for p in cat.profiles.values()
            if region in p.sources and cat.bedrock_models[p.model].kind == kind]
    return sorted(ids)


def catalog_azure_offers(location: str, kind: str) -> list[tuple[str, str, str]]:
    """(model, version, SKU) the catalog says are offered in ``location`` and not retired."""
    cat = load_catalog()
    today = dt.date.today()
    return sorted((m.name, m.version, sku) for m in cat.azure_models.values()
                  if m.kind == kind and not (m.lifecycle and m.lifecycle.state(today) == "retired")
                  for sku, o in m.offers.items() if location in o.locations
                  and sku in ("Standard", "GlobalStandard", "DataZoneStandard",
                              "ProvisionedManaged"))


@st.composite
def bedrock_models(draw: st.DrawFn, region: str) -> list[dict[str, Any]]:
    """0-3 Bedrock models of a region: in-region ids and profiles of several prefixes, most
    of them placements the model catalog says work there (the rest are refused or warned)."""
    own = [p for p in regions.BEDROCK_PROFILE_DESTINATIONS
           if region in regions.BEDROCK_PROFILE_DESTINATIONS[p]]
    out = []
    model_names = draw(st.lists(names, max_size=3, unique=True))
    for name in model_names:
        kind = draw(st.sampled_from(["chat", "chat", "embedding"]))
        base = draw(st.sampled_from(CHAT_MODELS if kind == "chat" else EMBEDDING_MODELS))
        prefix = draw(st.one_of(st.none(), st.sampled_from(own or ["global"]),
                                st.just("global"), st.sampled_from(PREFIXES)))
        model_id = f"{prefix}.{base}" if prefix else base
        known = catalog_bedrock_ids(region, kind)
        if known and draw(st.integers(0, 3)) > 0:
            model_id = draw(st.sampled_from(known))
            prefix = regions.profile_prefix(model_id)
        model: dict[str, Any] = {
            "name": name, "model_id": model_id,
            "price": {"input_per_million": draw(st.sampled_from([0, 0.02, 3.0, 1e6])),
                      "output_per_million": draw(st.sampled_from([0, 15.0, 0.6]))},
        }
        if kind == "embedding" or draw(st.booleans()):
            model["kind"] = kind
        if prefix and prefix != "global" and draw(st.integers(0, 3)) == 0:
            dest = regions.BEDROCK_PROFILE_DESTINATIONS[prefix]
            model["destination_regions"] = draw(st.lists(st.sampled_from(dest), min_size=1,
                                                         max_size=3, unique=True))
        out.append(model)
    return out


@st.composite
def azure_section(draw: st.DrawFn) -> dict[str, Any]:
    """1-2 accounts with deployments of every SKU, content filters and network options."""
    filters = draw(st.lists(st.sampled_from(["strict", "loose_1", "F" * 64, "x-y"]),
                            max_size=2, unique=True))
    account_names = draw(st.lists(st.sampled_from(
        ["oai", "oai-eu", "oai-eu-x", "eu-x", "a" * 64, "acme-openai-swc"]),
        min_size=1, max_size=2, unique=True))
    accounts = []
    for i, name in enumerate(account_names):
        location = draw(st.sampled_from(AZURE_LOCATIONS))
        zone = regions.AZURE_REGIONS[location] in regions.AZURE_DATA_ZONES
        skus = ["Standard", "GlobalStandard", "ProvisionedManaged"] + (
            ["DataZoneStandard"] if zone else [])
        deployments = []
        for dep_name in draw(st.lists(st.sampled_from(
                ["gpt-4o", "gpt-4o-mini", "x-gpt-4o", "eu-x-gpt", "emb", "A.b_c-1", "D" * 64]),
                min_size=1, max_size=3, unique=True)):
            kind = "embedding" if dep_name in ("emb", "A.b_c-1") else "chat"
            model = "text-embedding-3-large" if kind == "embedding" else dep_name.lower()
            version = draw(st.sampled_from(["2024-11-20", "1", "0613"]))
            sku = draw(st.sampled_from(skus))
            offered = catalog_azure_offers(location, kind)
            if offered and draw(st.integers(0, 3)) > 0:  # mostly what the catalog offers
                model, version, sku = draw(st.sampled_from(offered))
            dep: dict[str, Any] = {
                "name": dep_name,
                "model": model,
                "version": version,
                "sku": sku,
                "capacity": draw(st.sampled_from([1, 100, 1000])),
                "price": {"input_per_million": 2.5, "output_per_million": 10.0},
            }
            if kind == "embedding":
                dep["kind"] = kind
            if filters and draw(st.booleans()):
                dep["content_filter"] = draw(st.sampled_from(filters))
            if draw(st.integers(0, 4)) == 0:
                dep["version_upgrade"] = draw(st.sampled_from(
                    ["OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired"]))
            deployments.append(dep)
        account: dict[str, Any] = {"name": name, "location": location,
                                   "deployments": deployments}
        if draw(st.integers(0, 3)) == 0:
            account["custom_subdomain"] = f"sub-{i}-{name}"[:64].rstrip("-")
        if draw(st.booleans()):
            # Mostly the path a gateway reaches; "disabled" is refused while gateways exist.
            account["public_network_access"] = draw(st.sampled_from(
                ["gateway-egress-only"] * 3 + ["disabled"]))
        if draw(st.integers(0, 3)) == 0:
            account["kind"] = draw(st.sampled_from(["AIServices", "OpenAI"]))
        if draw(st.booleans()):
            account["vnet_cidr"] = draw(st.sampled_from(
                ["10.200.0.0/24", "172.20.0.0/29", "10.0.0.0/8", "192.168.1.0/30",
                 "10.100.0.0/16"]))
        accounts.append(account)
    section: dict[str, Any] = {"accounts": accounts}
    if filters:
        section["content_filters"] = [
            {"name": f, "severity_threshold": draw(st.sampled_from(["Low", "Medium", "High"])),
             "blocking": draw(st.booleans()), "jailbreak_detection": draw(st.booleans()),
             # issue 21: the other detection models and per-category overrides
             "indirect_attack_detection": draw(st.booleans()),
             "protected_material_text": draw(st.booleans()),
             "protected_material_code": draw(st.booleans()),
             "harm": draw(st.dictionaries(
                 st.sampled_from(["hate", "sexual", "violence", "self_harm"]),
                 st.fixed_dictionaries({}, optional={
                     "prompt": st.sampled_from(["Low", "Medium", "High", "off"]),
                     "completion": st.sampled_from(["Low", "Medium", "High", "off"])}),
                 max_size=2))}
            for f in filters]
    if draw(st.integers(0, 3)) == 0:
        section["resource_group"] = draw(st.sampled_from(
            ["rg-shared", "rg_AI.platform", "(rg)", "r" * 90, "rg." if rarely(draw) else "rg"]))
    if draw(st.integers(0, 3)) == 0:
        section["subscription"] = "0123abcd-0000-4000-8000-00000000beef"
    section["log_retention_days"] = draw(st.sampled_from([30, 90, 730]))
    return section


def _target_index(doc: dict[str, Any]) -> list[tuple[dict[str, Any], str, frozenset[str]]]:
    """(route target, kind, processing set) for every model the document declares."""
    out = []
    for region, cfg in doc["aws"]["regions"].items():
        for m in cfg.get("bedrock_models", []):
            out.append(({"cloud": "bedrock", "region": region, "model": m["name"]},
                        m.get("kind", "chat"), regions.processing_regions_for_bedrock(
                            m["model_id"], region, m.get("destination_regions"))))
    for acct in doc.get("azure", {}).get("accounts", []):
        for d in acct["deployments"]:
            out.append(({"cloud": "azure", "account": acct["name"], "deployment": d["name"]},
                        d.get("kind", "chat"),
                        regions.processing_regions_for_azure(d["sku"], acct["location"])))
    for ep in doc.get("openai_compatible", []):
        for m in ep["models"]:
            out.append(({"cloud": "openai", "endpoint": ep["name"], "model": m["name"]},
                        m.get("kind", "chat"), regions.expand_allowed(ep["processing"])))
    return out


ALLOWED_CHOICES = [["any"], ["us"], ["eu"], ["us", "eu"], ["uk", "ch"], ["jp", "au", "sg"],
                   ["eu-central-1"], ["swedencentral"], ["ca", "br", "in"]]


@st.composite
def plausible_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec document assembled so that most draws validate (see the module docstring)."""
    doc: dict[str, Any] = {"name": "0-platform" if rarely(draw) else draw(platform_names)}
    if draw(st.booleans()):
        doc["currency"] = draw(st.sampled_from(["USD", "EUR", "GBP"]))
    tags = draw(st.dictionaries(
        st.sampled_from(["owner", "cost-center", "team:ai", "Name", "k" * 128, "a b"]),
        st.sampled_from(["platform", "ai-4711", "v" * 256, "x/y=z+1@2"]), max_size=3))
    if rarely(draw):
        tags["empty"] = ""  # refused: some resource types take no empty tag value
    if tags:
        doc["tags"] = tags

    aws_names = draw(st.lists(st.sampled_from(AWS_REGIONS), min_size=1, max_size=3,
                              unique=True))
    aws_regions = {}
    gw_regions = draw(st.lists(st.sampled_from(aws_names), min_size=1, unique=True))
    for i, region in enumerate(aws_names):
        zones = len(aws_zones.zone_ids(region))
        low = 1 if region not in gw_regions or rarely(draw) else 2
        cfg: dict[str, Any] = {
            "vpc_cidr": _cidr(i, 16 if not rarely(draw) else draw(st.integers(17, 24))),
            "az_count": draw(st.integers(low, 6 if rarely(draw) else zones))}
        models = draw(bedrock_models(region))
        if models:
            cfg["bedrock_models"] = models
        aws_regions[region] = cfg
    aws: dict[str, Any] = {"regions": aws_regions}
    if draw(st.booleans()):
        aws["account"] = "123456789012"
    if draw(st.booleans()):
        aws["invocation_logging"] = {
            "enabled": draw(st.booleans()),
            "log_retention_days": draw(st.sampled_from([1, 30, 365, 3653])),
            "text": draw(st.booleans()), "image": draw(st.booleans()),
            "embedding": draw(st.booleans())}
    if draw(st.booleans()):
        aws["alarms"] = {"throttles_per_5min": draw(st.sampled_from([1, 20, 10**6])),
                         "server_errors_per_5min": draw(st.sampled_from([1, 5])),
                         "p99_latency_ms": draw(st.sampled_from([100, 30000, 10**7])),
                         "notify_emails": draw(st.lists(emails, max_size=2, unique=True))}
    doc["aws"] = aws
    if draw(st.integers(0, 4)) > 1:
        doc["azure"] = draw(azure_section())
    if draw(st.integers(0, 3)) == 0:
        endpoint: dict[str, Any] = {
            "name": draw(st.sampled_from(["vllm", "openai", "on-prem-1"])),
            "base_url": draw(st.sampled_from(["https://api.openai.com/v1",
                                              "http://vllm.internal:8000/v1"])),
            "processing": draw(st.sampled_from([["any"], ["us"], ["eu-central-1"], ["eu"]])),
            "models": [{"name": "llama", "model": "meta-llama/Llama-3.3-70B-Instruct",
                        "price": {"input_per_million": 0, "output_per_million": 0}}],
        }
        if draw(st.booleans()):
            endpoint["api_key"] = draw(key_refs())
        doc["openai_compatible"] = [endpoint]

    index = _target_index(doc)
    routes = []
    route_kinds: dict[str, list[frozenset[str]]] = {}
    for rname in draw(st.lists(route_names, min_size=1, max_size=4, unique=True)):
        kind = draw(st.sampled_from(["chat", "embedding"]))
        pool = [t for t in index if t[1] == kind]
        if not pool:
            continue
        picked = draw(st.lists(st.sampled_from(range(len(pool))), min_size=1, max_size=3,
                               unique=True))
        strategy = draw(st.sampled_from(["priority", "weighted", "lowest-cost",
                                         "lowest-latency"]))
        targets = []
        for n in picked:
            target = dict(pool[n][0])
            if strategy == "weighted":
                target["weight"] = draw(st.sampled_from([0, 1, 3, 1000]))
            targets.append(target)
        if strategy == "weighted" and all(t["weight"] == 0 for t in targets):
            targets[0]["weight"] = 1
        route: dict[str, Any] = {"name": rname, "strategy": strategy, "targets": targets,
                                 "timeout_seconds": draw(st.sampled_from([0.5, 1, 30, 900])),
                                 "max_attempts": draw(st.integers(1, 10))}
        if kind == "embedding":
            route["kind"] = kind
        routes.append(route)
        route_kinds[rname] = [pool[n][2] for n in picked]
    if not routes:  # no model of either kind: serve one from an OpenAI-compatible upstream
        doc["openai_compatible"] = [{
            "name": "fallback", "base_url": "https://api.openai.com/v1", "processing": ["any"],
            "models": [{"name": "gpt", "model": "gpt-4o-mini",
                        "price": {"input_per_million": 0.15, "output_per_million": 0.6}}]}]
        routes = [{"name": "chat", "targets": [
            {"cloud": "openai", "endpoint": "fallback", "model": "gpt"}]}]
        route_kinds = {"chat": [frozenset({regions.ANY})]}
    doc["routes"] = routes

    classes = {}
    for cname in draw(st.lists(st.sampled_from(["public", "internal", "eu-personal", "c",
                                                 f"c{LONG}c"]),
                               min_size=1, max_size=3, unique=True)):
        classes[cname] = {"allowed": draw(st.sampled_from(ALLOWED_CHOICES))}
        if draw(st.booleans()):
            classes[cname]["description"] = "drawn"
    if draw(st.integers(0, 3)):
        # Usually some classification covers every place the spec builds in (else the
        # residency rules refuse the spec, with a location).
        places = [*aws_names, *(a["location"] for a in doc.get("azure", {}).get("accounts", []))]
        covered = frozenset().union(*(regions.expand_allowed(c["allowed"])
                                      for c in classes.values()))
        if regions.ANY not in covered:
            classes["regional"] = {"allowed": draw(st.sampled_from(
                [sorted(set(places)), ["any"]]))}
    tenants = []
    for tname in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        cname = draw(st.sampled_from(sorted(classes)))
        allowed = regions.expand_allowed(classes[cname]["allowed"])
        servable = sorted(r for r, procs in route_kinds.items()
                          if any(regions.satisfies(p, allowed) for p in procs))
        if not servable:
            continue
        key = draw(key_refs())
        tenants.append({
            "name": tname, "api_key": key,
            "routes": draw(st.lists(st.sampled_from(servable), min_size=1, unique=True)),
            "classification": cname,
            "monthly_budget": draw(st.sampled_from([0, 1, 1500.5, 10**9])),
            "requests_per_minute": draw(st.sampled_from([1, 600, 10**6])),
            "tokens_per_minute": draw(st.sampled_from([1, 400000, 10**9])),
        })
    if not tenants:
        classes["anywhere"] = {"allowed": ["any"]}
        tenants.append({"name": "fallback", "api_key": {"env": "SKYRELAY_KEY_FALLBACK"},
                        "routes": [routes[0]["name"]], "classification": "anywhere",
                        "monthly_budget": 10, "requests_per_minute": 1,
                        "tokens_per_minute": 1})
    doc["tenants"] = tenants
    doc["compliance"] = {"classifications": classes}

    jobs = []
    job_names = draw(st.lists(st.sampled_from(["job", "job-a", "a" * 63, "j0"]), max_size=2,
                              unique=True))
    if job_names and rarely(draw):
        job_names.append(job_names[0].replace("-", "--"))  # refused: same name once squeezed
    for jname in job_names:
        job: dict[str, Any] = {"name": jname, "region": draw(st.sampled_from(aws_names))}
        if draw(st.booleans()):
            job["training_image"] = "docker.io/library/python:3.12" if rarely(draw) else draw(
                st.sampled_from([
                    "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
                    "huggingface-pytorch-training:2.1.0-gpu-py310",
                    f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/trainer@sha256:{'a' * 64}",
                    "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training"]))
            job["instance_type"] = draw(st.sampled_from(
                ["ml.g5.2xlarge", "ml.p4d.24xlarge", "ml.m5.large"]))
            job["instance_count"] = draw(st.sampled_from([1, 2, 64]))
        else:
            job["base_model"] = draw(st.sampled_from(
                ["amazon.nova-micro-v1:0:128k", "meta.llama3-1-8b-instruct-v1:0:128k"]))
        if draw(st.booleans()):
            job["dataset_s3_prefix"] = draw(st.sampled_from(
                ["", "datasets/support/", "a.b_c-d/e", "x" * 200]))
        if draw(st.booleans()):
            job["hyperparameters"] = draw(st.dictionaries(
                st.sampled_from(["epochs", "learning_rate", "model_id", "batch-size"]),
                st.sampled_from([3, 0.00002, "mistralai/Mistral-7B-v0.3", 1.5]), max_size=3))
        job["max_runtime_hours"] = 0.001 if rarely(draw) else draw(
            st.sampled_from([0.02, 0.5, 1, 12, 672]))
        jobs.append(job)
    if jobs:
        doc["fine_tuning"] = {"jobs": jobs}

    cpu = draw(st.sampled_from([256, 512, 1024, 2048, 4096]))
    min_tasks = draw(st.sampled_from([1, 2, 3]))
    doc["gateway"] = {
        "regions": gw_regions, "cpu": cpu,
        # Mostly a Fargate size of that cpu (its lowest or highest memory among them).
        "memory_mib": draw(st.sampled_from([512, 1024, 3072, 30720])) if rarely(draw)
        else draw(st.sampled_from([2 * cpu, 4 * cpu, 30720 if cpu == 4096 else 2 * cpu])),
        "min_tasks": min_tasks, "max_tasks": min_tasks + draw(st.sampled_from([0, 1, 20])),
        "log_retention_days": draw(st.sampled_from([1, 90, 3653])),
        "log_prompts": draw(st.booleans()),
    }
    return doc


def dump(doc: dict[str, Any]) -> str:
    """YAML text of a document, keys in the order they were built."""
    return yaml.safe_dump(doc, sort_keys=False)


def load(doc: dict[str, Any]) -> tuple[str, Spec | None]:
    """(text, Spec) or (text, None) after asserting that every problem is located."""
    text = dump(doc)
    try:
        return text, parse_spec_text(text, "fuzz.yaml")
    except SpecError as err:
        assert_located(err, text)
        return text, None


# --- 3. what synth and check do with a valid spec ----------------------------------------

#: How many examples reached each layer in this process (for a soak run's report).
STATS = {"drawn": 0, "validated": 0, "planned": 0, "synthesized": 0, "linted": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_stats() -> Any:
    """Print how far the examples got (``pytest -s`` shows it; ``make soak`` runs with -s)."""
    yield
    print(f"\nFUZZ SUMMARY {json.dumps(STATS)}")


def check_gateway_config(spec: Spec) -> dict[str, Any]:
    """The config fits its SSM parameter and every key reference has its own variable."""
    from skyrelay.constructs.gateway_service import (
        CONFIG_ENV,
        MAX_CONFIG_BYTES,
        REDIS_PASSWORD_ENV,
        REDIS_URL_ENV,
    )
    from skyrelay.link import config_json
    from skyrelay.stacks.gateway import AZURE_CREDENTIAL_FIELDS, reference_secrets
    from skyrelay.views.gateway_config import gateway_config, sized_for_deploy

    cfg = gateway_config(spec)
    # Each gateway region stores its own config, with its guardrail ids (issue 20).
    for region in spec.gateway.regions:
        size = len(config_json(sized_for_deploy(spec, region)).encode())
        assert size <= MAX_CONFIG_BYTES, f"{region}: config of {size} bytes passed validation"
    refs = {t.api_key for t in spec.tenants} | {
        e.api_key for e in spec.openai_compatible if e.api_key is not None}
    env = reference_secrets(spec)
    assert len(env) == len(refs), f"two key references share a variable: {sorted(env)}"
    reserved = {CONFIG_ENV, REDIS_URL_ENV, REDIS_PASSWORD_ENV, *AZURE_CREDENTIAL_FIELDS}
    assert not reserved & set(env), f"a key reference uses {sorted(reserved & set(env))}"
    return cfg


def plan_azure(spec_file: Path, outdir: Path) -> Any:
    """Run the Azure program under mocks as ``skyrelay synth`` does (in-process, same
    function the child interpreter calls) and write ``azure-plan.json`` into ``outdir``."""
    from skyrelay.pulumi.azure_mocks import AzureMocks
    from skyrelay.pulumi.offline import (
        PLAN_FILENAME,
        STACK_TYPE,
        RecordingMonitor,
        run_offline,
        write_plan_json,
    )

    class UrnMonitor(RecordingMonitor):
        """Also keeps every URN registered, duplicates included (the engine refuses those)."""

        urns: list[str]

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            self.urns.append(response.urn)
            return response

    spec = parse_spec_text(spec_file.read_bytes(), str(spec_file))
    monitor = UrnMonitor(AzureMocks(spec.azure.subscription if spec.azure else None))
    monitor.urns = []
    graph = run_offline(spec_file, monitor=monitor)
    # The stack resource is registered twice by the offline harness itself (set_mocks, then
    # run_in_stack, as the CLI host does); every other URN must be unique.
    urns = [u for u in monitor.urns if f"::{STACK_TYPE}::" not in u]
    dupes = sorted({u for u in urns if urns.count(u) > 1})
    assert not dupes, f"resources share a URN: {dupes}"
    # The mocks build ARM ids as Azure does (resource group, type, name): two resources with
    # one id would be one Azure resource created twice.
    ids = [r.id for r in graph.resources if r.custom and r.id
           and not r.type.startswith("pulumi:providers:")]
    same = sorted({i for i in ids if ids.count(i) > 1})
    assert not same, f"resources share an Azure id: {same}"
    accounts = graph.of_type("azure-native:cognitiveservices:Account")
    deployments = graph.of_type("azure-native:cognitiveservices:Deployment")
    declared = spec.azure.accounts if spec.azure else ()
    assert len(accounts) == len(declared)
    assert len(deployments) == sum(len(a.deployments) for a in declared)
    write_plan_json(graph, outdir / PLAN_FILENAME)
    return graph


def expected_stacks(spec: Spec) -> set[str]:
    """The stack names ``skyrelay.stacks.platform`` must produce for ``spec``."""
    assert spec.aws is not None
    out = set()
    for region, cfg in spec.aws.regions.items():
        out |= {f"{spec.name}-{region}-{s}" for s in ("network", "observability")}
        if cfg.bedrock_models or spec.aws.invocation_logging.enabled:
            out.add(f"{spec.name}-{region}-bedrock")
        if any(j.region == region for j in spec.fine_tuning.jobs):
            out.add(f"{spec.name}-{region}-fine-tuning")
        if region in spec.gateway.regions:
            out.add(f"{spec.name}-{region}-gateway")
    return out


def synth_cdk(spec: Spec, outdir: Path) -> list[Path]:
    """Compose the app with the compliance packs and synthesize it, as ``app.py`` does.

    ``app.synth()`` raises when a pack reports an unacknowledged error (the CDK CLI then
    fails the same way); error annotations in the assembly would fail ``cdk synth`` too.
    """
    import aws_cdk as cdk
    from aws_cdk import cx_api

    from skyrelay.cdk_app import compose_app

    app = cdk.App(outdir=str(outdir))
    compose_app(spec, app, checks=True)
    assembly = app.synth()
    errors = [(s.stack_name, m.entry.data) for s in assembly.stacks for m in s.messages
              if m.level == cx_api.SynthesisMessageLevel.ERROR]
    assert not errors, errors
    report = json.loads((outdir / "validation-report.json").read_text()) \
        if (outdir / "validation-report.json").exists() else None
    assert report is None or report.get("success") is not False, report
    templates = sorted(outdir.glob("*.template.json"))
    assert {p.name.removesuffix(".template.json") for p in templates} == expected_stacks(spec)
    return templates


def lint(templates: list[Path]) -> None:
    """cfn-lint with the project's ignore list (``.cfnlintrc.yaml``): no error or warning."""
    from cfnlint.api import ManualArgs, lint_file

    rc = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())
    config = ManualArgs(ignore_checks=rc.get("ignore_checks", []))
    found = [f"{t.name}: {m}" for t in templates for m in lint_file(t, config)
             if str(m.rule.id)[0] in "EW"]
    assert not found, "\n".join(found)


def check_rules(spec: Spec, outdir: Path) -> None:
    """``skyrelay check``: no error-level rule fails on a spec that validated."""
    from skyrelay.policies.check import run_checks

    report = run_checks(spec, outdir)
    assert not report.errors, "\n".join(map(str, report.errors))


def exercise(doc: dict[str, Any], *, synth: bool, lint_templates: bool = False) -> bool:
    """Run one document through every layer; return whether it validated."""
    STATS["drawn"] += 1
    text, spec = load(doc)
    if spec is None:
        return False
    STATS["validated"] += 1
    check_gateway_config(spec)
    with tempfile.TemporaryDirectory(prefix="skyrelay-fuzz-") as tmp:
        spec_file = Path(tmp) / "spec.yaml"
        spec_file.write_text(text)
        outdir = Path(tmp) / "cdk.out"
        outdir.mkdir()
        plan_azure(spec_file, outdir)
        STATS["planned"] += 1
        if synth:
            templates = synth_cdk(spec, outdir)
            STATS["synthesized"] += 1
            if lint_templates:
                lint(templates)
                STATS["linted"] += 1
        check_rules(spec, outdir)
    return True


#: Found by this file: a spec that validated, then failed in synth. The p99 alarm threshold
#: of the gateway took whole seconds only (250 ms raised in jsii), and a region without
#: Bedrock models and with invocation logging off got a Bedrock stack without resources
#: (CloudFormation refuses such a template). Both are fixed in the stacks.
SUB_SECOND_ALARM_AND_NO_MODELS: dict[str, Any] = {
    "name": "minimal",
    "aws": {"regions": {"us-east-1": {"az_count": 2}},
            "invocation_logging": {"enabled": False},
            "alarms": {"p99_latency_ms": 250}},
    "openai_compatible": [{
        "name": "vllm", "base_url": "http://vllm.internal:8000/v1", "processing": ["us"],
        "models": [{"name": "llama", "model": "meta-llama/Llama-3.3-70B-Instruct",
                    "price": {"input_per_million": 0, "output_per_million": 0}}]}],
    "routes": [{"name": "chat", "targets": [
        {"cloud": "openai", "endpoint": "vllm", "model": "llama"}]}],
    "tenants": [{"name": "app", "api_key": {"env": "SKYRELAY_KEY_APP"}, "routes": ["chat"],
                 "classification": "internal", "monthly_budget": 100,
                 "requests_per_minute": 60, "tokens_per_minute": 100000}],
    "compliance": {"classifications": {"internal": {"allowed": ["us"]}}},
    "gateway": {"regions": ["us-east-1"], "cpu": 256, "memory_mib": 512, "min_tasks": 1,
                "max_tasks": 1},
}


@_settings(PLAN_EXAMPLES)
@given(plausible_specs())
def test_valid_specs_plan_and_pass_the_rules(doc: dict[str, Any]) -> None:
    exercise(doc, synth=False)


@_settings(SYNTH_EXAMPLES)
@example(SUB_SECOND_ALARM_AND_NO_MODELS)
@given(plausible_specs())
def test_valid_specs_synthesize_with_every_check(doc: dict[str, Any]) -> None:
    assume(exercise(doc, synth=True, lint_templates=STATS["linted"] < LINT_EXAMPLES))


def test_plausible_specs_mostly_validate() -> None:
    # The synth test means something only if the generator reaches valid specs.
    outcomes: list[bool] = []

    @_settings(40)
    @given(plausible_specs())
    def draw(doc: dict[str, Any]) -> None:
        outcomes.append(load(doc)[1] is not None)

    draw()
    assert sum(outcomes) >= len(outcomes) // 3, f"{sum(outcomes)} of {len(outcomes)} validated"


# --- 4. what the fuzzing found: refused now, with a location -----------------------------

def _eu_only(d: dict[str, Any]) -> None:
    d["compliance"]["classifications"] = {"eu-personal": {"allowed": ["eu"]}}
    d["tenants"] = [t for t in d["tenants"] if t["name"] == "eu-support"]
    d["tenants"][0]["routes"] = ["chat-eu", "claude-sonnet"]


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        node = d
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return mutate


def _all(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)
    return mutate


def _many_tenants(d: dict[str, Any]) -> None:
    base = d["tenants"][0]
    d["tenants"] += [dict(base, name=f"tenant-{i:03d}", api_key={"env": f"KEY_{i:03d}"})
                     for i in range(40)]


def _second_account(name: str, deployment: str) -> Callable[[dict[str, Any]], None]:
    """Add an account like the default one in France with one embedding deployment, a
    target of the default spec's embedding route."""
    def mutate(d: dict[str, Any]) -> None:
        first = d["azure"]["accounts"][0]
        d["azure"]["accounts"].append(dict(
            first, name=name, location="francecentral", vnet_cidr="10.101.0.0/24",
            deployments=[dict(first["deployments"][2], name=deployment)]))
        route = next(r for r in d["routes"] if r.get("kind") == "embedding")
        route["targets"].append({"cloud": "azure", "account": name, "deployment": deployment})
    return mutate


_JOB = ("fine_tuning", "jobs", 0)

#: Each spec here validated before and then failed in synth, in the Azure program or in
#: ``skyrelay check`` (or silently gave a tenant another tenant's key). Case -> the change
#: to the default spec and the (path, text) problems validation must report now.
REFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], list[tuple[str, str]]]] = {
    "stack names start with a letter": (
        _set("name", value="0-acme"), [("name", "does not have the expected form")]),
    "us-west-1 has two zones": (
        _set("aws", "regions", "us-west-1", value={"vpc_cidr": "10.30.0.0/16", "az_count": 3}),
        [("aws.regions.us-west-1.az_count", "us-west-1 has 2 availability zones")]),
    "the gateway's load balancer needs two zones": (
        _set("aws", "regions", "eu-central-1", "zone_ids", value=["euc1-az1"]),
        [("aws.regions.eu-central-1.zone_ids", "at least 2 availability zones")]),
    "VPC too small for NAT, private and data subnets": (
        _set("aws", "regions", "us-east-1", "vpc_cidr", value="10.10.0.0/19"),
        [("aws.regions.us-east-1.vpc_cidr", "too small for 2 availability zone(s)"),
         ("aws.regions.us-east-1.vpc_cidr", "use a /18 or larger")]),
    "Azure vnet prefix": (
        _set("azure", "accounts", 0, "vnet_cidr", value="10.100.0.0/30"),
        [("azure.accounts[0].vnet_cidr", "between /8 and /29")]),
    "regions and deployments outside every classification": (
        _eu_only,
        [("aws.regions.us-east-1", "us-east-1 (us) is outside every region"),
         ("azure.accounts[0].deployments[1].sku", "a GlobalStandard deployment (gpt-4o-mini)")]),
    "Azure location outside every classification": (
        _all(_eu_only, _set("azure", "accounts", 0, "location", value="eastus")),
        [("azure.accounts[0].location", "eastus (us) is outside every region")]),
    "a key reference on the platform's own variable": (
        _set("tenants", 0, "api_key", value={"env": "AZURE_CLIENT_SECRET"}),
        [("tenants[0].api_key.env", "AZURE_CLIENT_SECRET is set by the platform itself")]),
    "two key references on one variable": (
        _set("tenants", 1, "api_key", value={"secret": "skyrelay.tenants.web-app"}),
        [("tenants[1].api_key",
          "reaches the gateway as variable SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP")]),
    "empty tag value": (_set("tags", "owner", value=""), [("tags.owner", "1-256")]),
    "reserved tag key": (_set("tags", "aws:owner", value="x"), [("tags.aws:owner", "reserved")]),
    "no Fargate task size": (
        _set("gateway", "memory_mib", value=1024),
        [("gateway.memory_mib", "no task size with cpu 1024 and memory_mib 1024")]),
    "training image outside ECR": (
        _set(*_JOB, "training_image", value="docker.io/library/python:3.12"),
        [("fine_tuning.jobs[0].training_image", "does not have the expected form")]),
    "job runtime under a minute": (
        _set(*_JOB, "max_runtime_hours", value=0.001),
        [("fine_tuning.jobs[0].max_runtime_hours", "less than a minute")]),
    "job names equal up to repeated hyphens": (
        lambda d: d["fine_tuning"]["jobs"].append(
            dict(d["fine_tuning"]["jobs"][0], name="support--summarizer")),
        [("fine_tuning.jobs[1].name", "differ only in repeated hyphens")]),
    "resource group name": (
        _set("azure", "resource_group", value="rg."), [("azure.resource_group", "form")]),
    "gateway config over its SSM parameter": (
        _many_tenants, [("gateway", "its SSM parameter holds at most 8192")]),
    "one Pulumi name for two deployments": (
        _all(_second_account("acme-openai-swc-gpt", "4o-mini"),
             _set("azure", "accounts", 0, "deployments", 1, "name", value="gpt-4o-mini")),
        [("azure.accounts[1].deployments[0].name",
          "would name this Deployment 'acme-openai-swc-gpt-4o-mini'")]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_fuzzing_found_is_refused_with_a_location(case: str) -> None:
    mutate, expected = REFUSED[case]
    doc = copy.deepcopy(DEFAULT)
    mutate(doc)
    text = dump(doc)
    with pytest.raises(SpecError) as info:
        parse_spec_text(text, "fuzz.yaml")
    assert_located(info.value, text)
    found = [(i.dotted, i.message) for i in info.value.issues]
    for path, fragment in expected:
        assert any(p == path and fragment in m for p, m in found), (path, fragment, found)


def test_validation_tables_match_what_the_stacks_build() -> None:
    # Validation cannot import the CDK constructs (they start jsii); it keeps copies of their
    # limits, which must not drift.
    from skyrelay.constructs import gateway_service, network
    from skyrelay.spec import checks
    from skyrelay.stacks.gateway import AZURE_CREDENTIAL_FIELDS

    assert checks.VPC_SUBNET_MASKS == {True: network.EGRESS_SUBNET_MASKS,
                                       False: network.ISOLATED_SUBNET_MASKS}
    from skyrelay.gateway.server import ops

    platform_env = {gateway_service.CONFIG_ENV, gateway_service.REDIS_URL_ENV,
                    gateway_service.REDIS_PASSWORD_ENV, *AZURE_CREDENTIAL_FIELDS,
                    ops.METRICS_PORT_ENV, ops.METRICS_HOST_ENV, ops.METRICS_TOKEN_ENV,
                    ops.DRAIN_ENV, ops.HEADER_TIMEOUT_ENV, ops.MAX_CONNECTIONS_ENV,
                    gateway_service.WORKERS_ENV}
    assert platform_env == checks.RESERVED_ENV
    assert checks.MAX_GATEWAY_CONFIG_BYTES == gateway_service.MAX_CONFIG_BYTES


@pytest.mark.parametrize(("zones", "egress"), [(1, True), (2, True), (3, False)])
def test_vpc_size_rule_is_exactly_how_cdk_lays_out_the_subnets(zones: int,
                                                               egress: bool) -> None:
    # The VPC check is neither looser nor stricter than CDK: the last subnet CDK places
    # ends exactly where vpc_addresses_needed says.
    import ipaddress

    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from skyrelay.constructs.network import PrivateModelNetwork
    from skyrelay.spec.checks import vpc_addresses_needed

    stack = cdk.Stack(cdk.App(), "Net", env=cdk.Environment(region="eu-west-1"))
    PrivateModelNetwork(stack, "Net", cidr="10.0.0.0/8",
                        availability_zones=[f"eu-west-1{c}" for c in "abc"[:zones]],
                        nat_gateways=zones if egress else 0, invoke_arns=[])
    subnets = Template.from_stack(stack).find_resources("AWS::EC2::Subnet")
    ends = [int(ipaddress.ip_network(r["Properties"]["CidrBlock"]).broadcast_address) + 1
            - int(ipaddress.ip_address("10.0.0.0")) for r in subnets.values()]
    assert len(ends) == zones * (3 if egress else 1)
    assert max(ends) == vpc_addresses_needed(zones, egress)


def test_accounts_in_one_shared_resource_group_share_its_dns_zones(tmp_path: Path) -> None:
    # Found here: with azure.resource_group, every account created the privatelink zones in
    # the shared group, so the second account's zones had the first one's Azure ids. Now
    # the program creates them once and every account links its network to them.
    doc = copy.deepcopy(DEFAULT)
    _second_account("acme-openai-frc", "emb")(doc)
    doc["azure"]["resource_group"] = "rg-acme-ai"
    text, spec = load(doc)
    assert spec is not None
    (tmp_path / "spec.yaml").write_text(text)
    graph = plan_azure(tmp_path / "spec.yaml", tmp_path)  # no shared URN or Azure id
    zones = graph.of_type("azure-native:privatedns:PrivateZone")
    assert sorted(z.inputs["privateZoneName"] for z in zones) == [  # + Foundry's (issue 21)
        "privatelink.cognitiveservices.azure.com", "privatelink.openai.azure.com",
        "privatelink.services.ai.azure.com"]
    links = graph.of_type("azure-native:privatedns:VirtualNetworkLink")
    assert sorted(link.inputs["virtualNetworkLinkName"] for link in links) == sorted(
        3 * ["link-acme-openai-frc", "link-acme-openai-swc"])
    zone_ids = {z.id for z in zones}
    for group in graph.of_type("azure-native:network:PrivateDnsZoneGroup"):
        used = {c["privateDnsZoneId"] for c in group.inputs["privateDnsZoneConfigs"]}
        assert used == zone_ids
