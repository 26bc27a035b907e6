"""``refresh`` against a loopback server that answers like Azure's Models - List API
(bearer token, api-version, ``nextLink`` paging, 403 for a location), never the internet."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken

from skyrelay.catalog import load_catalog
from skyrelay.catalog.refresh_azure import MANAGEMENT_SCOPE
from skyrelay.catalog.refresh_run import RefreshInputs, run_refresh

TOKEN = "test-token-not-secret"
SUB = "00000000-0000-0000-0000-000000000000"
TODAY = dt.date(2026, 12, 2)


class StaticCredential:
    """A TokenCredential for tests: the azure-core AccessToken azure-identity returns."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


def _model(name: str, version: str, skus: list[str], *, embeddings: bool = False,
           inference_end: str | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {
        "format": "OpenAI", "name": name, "version": version,
        "lifecycleStatus": "GenerallyAvailable",
        "capabilities": {"chatCompletion": "false" if embeddings else "true",
                         "embeddings": "true" if embeddings else "false"},
        "skus": [{"name": s, "usageName": f"OpenAI.{s}.{name}"} for s in skus]}
    if inference_end:
        model["deprecation"] = {"inference": inference_end}
    return {"kind": "OpenAI", "skuName": "S0", "model": model}


PAGES = {
    ("swedencentral", None): {
        "value": [_model("gpt-5", "2025-08-07", ["GlobalStandard", "DataZoneStandard"]),
                  {"kind": "AIServices", "model": {"format": "Mistral AI", "name": "x",
                                                   "version": "1"}}],
        "nextLink": "PAGE2"},
    ("swedencentral", "2"): {"value": [
        # A version the catalog has never seen (the fake's own, not a real release).
        _model("gpt-test-next", "2026-11-30", ["GlobalStandard"],
               inference_end="2027-05-12T00:00:00Z"),
        _model("text-embedding-3-large", "1", ["Standard", "GlobalStandard"], embeddings=True)]},
}


@pytest.fixture
def fake_arm() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            seen.append({"path": url.path, "query": query,
                         "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"error": {"code": "InvalidAuthenticationToken"}})
            parts = url.path.split("/")
            # /subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{loc}/models
            if (len(parts) != 8 or parts[1:3] != ["subscriptions", SUB] or parts[7] != "models"
                    or query.get("api-version") != ["2024-10-01"]):
                return self._send(404, {"error": {"code": "NotFound"}})
            location = parts[6]
            if location == "westeurope":
                return self._send(403, {"error": {"code": "AuthorizationFailed",
                                                  "message": "no access"}})
            page = PAGES.get((location, query.get("$skiptoken", [None])[0]))
            if page is None:
                return self._send(200, {"value": []})
            body = dict(page)
            if body.get("nextLink") == "PAGE2":
                body["nextLink"] = (f"{base}{url.path}?api-version=2024-10-01&$skiptoken=2")
            return self._send(200, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_refresh_reads_every_page_and_keeps_a_refusing_location(
        fake_arm: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = fake_arm
    credential = StaticCredential()
    result = run_refresh(load_catalog(), RefreshInputs(
        aws_regions=None, ask_aws=False, azure_subscription=SUB,
        azure_locations=["swedencentral", "westeurope"], today=TODAY,
        azure_credential=credential, azure_base_url=base))
    assert credential.scopes == [(MANAGEMENT_SCOPE,)]
    assert [s["path"].split("/")[6] for s in seen] == ["swedencentral", "swedencentral",
                                                       "westeurope"]
    assert seen[1]["query"]["$skiptoken"] == ["2"]  # the nextLink page
    assert all(s["auth"] == f"Bearer {TOKEN}" for s in seen)
    assert "Azure westeurope refused (HTTP 403 AuthorizationFailed): its facts are kept" \
        in result.notes
    assert "Azure: 1 of 2 locations answered" in result.notes
    assert "Bedrock skipped: no AWS credentials" in result.notes
    # A model version new to the catalog, from page 2, with the API's retirement date.
    gpt52 = next(m for m in result.azure["models"]
                 if (m["name"], str(m["version"])) == ("gpt-test-next", "2026-11-30"))
    assert gpt52["offers"] == [{"sku": "GlobalStandard", "locations": ["swedencentral"],
                                "source": "api-azure-models-list", "checked": "2026-12-02"}]
    assert str(gpt52["lifecycle"]["retirement"]) == "2027-05-12"
    assert "azure gpt-test-next 2026-11-30: GlobalStandard in swedencentral" in result.added
    # swedencentral stopped listing gpt-4o 2024-11-20 (retired): its offers there are gone,
    # westeurope (refused) keeps its facts.
    assert "azure gpt-4o 2024-11-20: GlobalStandard in swedencentral" in result.removed
    assert not any("westeurope" in line for line in result.removed)
    # The non-OpenAI entry is not an Azure OpenAI model: ignored.
    assert not any(m["name"] == "x" for m in result.azure["models"])
    emb = next(m for m in result.azure["models"] if m["name"] == "text-embedding-3-large")
    assert emb["kind"] == "embedding"


def test_a_wrong_token_is_refused_by_the_fake(fake_arm: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = fake_arm

    class Wrong(StaticCredential):
        def get_token(self, *scopes: str, **_: Any) -> AccessToken:
            return AccessToken("other", int(time.time()) + 3600)

    result = run_refresh(load_catalog(), RefreshInputs(
        aws_regions=None, ask_aws=False, azure_subscription=SUB,
        azure_locations=["swedencentral"], today=TODAY, azure_credential=Wrong(),
        azure_base_url=base))
    assert "Azure swedencentral refused (HTTP 401 InvalidAuthenticationToken): its facts are " \
           "kept" in result.notes
    assert result.added == [] and result.removed == []
