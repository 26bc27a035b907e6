"""A real ``skyrelay gateway serve`` process per door test module, with local upstreams of
every target kind the Responses and Messages doors reach: Bedrock Converse and Claude's
InvokeModel (one local runtime, text; a second answering with tool calls), Bedrock's
OpenAI-compatible endpoint (API-key auth) and Azure OpenAI v1 (``api-key``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.bedrock_openai_upstream import BedrockOpenAIUpstream
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.serve_process import ServeProcess

CLAUDE = "us.anthropic.claude-sonnet-4-20250514-v1:0"
CLAUDE_STRUCTURED = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK_KEY = "bedrock-api-key-e2e-0000000001"
AZURE_KEY = "azure-key-e2e-000000000001"


@dataclass
class Gateway:
    proc: ServeProcess
    key: str
    bedrock: BedrockUpstream
    bedrock_tools: BedrockUpstream
    oss: BedrockOpenAIUpstream
    #: a tenant allowed 2 requests a minute (limits), and one whose data must stay in the EU
    limited_key: str
    eu_key: str

    @property
    def url(self) -> str:
        return self.proc.url


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    key, stored = new_key()
    limited_key, limited_stored = new_key()
    eu_key, eu_stored = new_key()
    folder: Path = tmp_path_factory.mktemp("doors")
    with BedrockUpstream(max_lifetime=600) as bedrock, \
            BedrockUpstream(tools=True, max_lifetime=600) as tools, \
            BedrockOpenAIUpstream(api_key=BEDROCK_KEY, azure_key=AZURE_KEY,
                                  max_lifetime=600) as oss:
        bedrock_target = {"cloud": "bedrock", "region": "us-east-1", "endpoint": bedrock.url}
        targets = {
            "claude-a": {**bedrock_target, "model": CLAUDE},
            "claude-b": {**bedrock_target, "model": CLAUDE},
            "claude-c": {**bedrock_target, "model": CLAUDE},
            "nova": {**bedrock_target, "model": "amazon.nova-pro-v1:0"},
            "nova-tools": {"cloud": "bedrock", "region": "us-east-1",
                           "endpoint": tools.url, "model": "amazon.nova-pro-v1:0"},
            # Sonnet 4.5: the catalog lists structured outputs for it (output_config.format)
            "claude-structured": {**bedrock_target, "model": CLAUDE_STRUCTURED,
                                  "capabilities": {"structured_output": True}},
            "claude-tools": {"cloud": "bedrock", "region": "us-east-1",
                             "endpoint": tools.url, "model": CLAUDE},
            "oss": {"cloud": "bedrock", "region": "us-west-2", "endpoint": oss.url,
                    "model": "openai.gpt-oss-120b-1:0", "api": "openai",
                    "api_key": {"env": "BEDROCK_KEY_US_WEST_2"}},
            "oss-2": {"cloud": "bedrock", "region": "us-west-2", "endpoint": oss.url,
                      "model": "openai.gpt-oss-20b-1:0", "api": "openai"},  # SigV4
            "azure": {"cloud": "azure", "region": "swedencentral", "endpoint": oss.url,
                      "model": "gpt-4o-dep", "account": "acme-swc",
                      "processing": ["*"]},
        }
        routes = {"claude": {"targets": ["claude-a"]},
                  # its own first target: the throttle it takes cools claude-c only
                  "claude-fallback": {"targets": ["claude-c", "claude-b"]},
                  "claude-tools": {"targets": ["claude-tools"]},
                  "claude-structured": {"targets": ["claude-structured"]},
                  "nova": {"targets": ["nova"]},
                  "nova-tools": {"targets": ["nova-tools"]},
                  "oss": {"targets": ["oss"]},
                  "azure": {"targets": ["azure"]},
                  # a passthrough target first, a translating one behind it
                  "mixed": {"targets": ["oss-2", "nova"]}}
        tenants = {
            "t1": {"api_key": {"env": "T1_KEY"}, "routes": list(routes),
                   "classification": "public"},
            "limited": {"api_key": {"env": "LIMITED_KEY"}, "routes": ["claude", "nova"],
                        "classification": "public", "requests_per_minute": 2},
            "eu": {"api_key": {"env": "EU_KEY"}, "routes": ["nova", "claude"],
                   "classification": "eu"},
        }
        classifications = {
            "public": {"allowed": ["any"], "processing_allowed": ["*"]},
            "eu": {"allowed": ["eu"], "processing_allowed": ["aws:eu-west-1"]},
        }
        for name in routes:
            routes[name]["classifications"] = ["public", "eu"]
        config = base_config_dict(targets, routes, tenants, classifications)
        env = {"T1_KEY": stored, "LIMITED_KEY": limited_stored, "EU_KEY": eu_stored,
               "AWS_ACCESS_KEY_ID": "AKIDTESTTESTTEST",
               "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1",
               "BEDROCK_KEY_US_WEST_2": BEDROCK_KEY, "SKYRELAY_AZURE_KEY_ACME_SWC": AZURE_KEY}
        with ServeProcess(config, env, folder) as proc:
            yield Gateway(proc, key, bedrock, tools, oss, limited_key, eu_key)
