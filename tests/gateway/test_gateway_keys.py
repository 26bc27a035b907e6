"""Plain keys from the spec's references (the stand-in until tenancy's hashed keys)."""

from __future__ import annotations

import logging

import pytest
from gateway_support import base_config

from skyrelay.gateway.keys_plain import PlainKeys, presented_key, secret_env_name


def cfg():
    return base_config({"a": {}}, {"r": {"targets": ["a"]}}, tenants={
        "env-tenant": {"api_key": {"env": "TENANT_ONE_KEY"}, "routes": ["r"],
                       "classification": "public"},
        "secret-tenant": {"api_key": {"secret": "skyrelay/tenants/web-app"}, "routes": ["r"],
                          "classification": "public"},
        "keyless": {"api_key": {"env": "NOT_SET_ANYWHERE"}, "routes": ["r"],
                    "classification": "public"}})


def test_env_and_secret_references_resolve_and_missing_ones_are_reported(caplog):
    env = {"TENANT_ONE_KEY": "sk-one", "SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP": "sk-two"}
    with caplog.at_level(logging.WARNING):
        keys = PlainKeys(cfg(), environ=env)
    assert keys.authenticate("Bearer sk-one", None).name == "env-tenant"
    assert keys.authenticate(None, "sk-two").name == "secret-tenant"
    assert keys.authenticate("Bearer sk-three", None) is None
    assert keys.authenticate(None, None) is None
    assert keys.missing == ["keyless"]
    assert "keyless" in caplog.text and "sk-one" not in caplog.text


def test_secrets_folder_wins_and_cannot_be_escaped(tmp_path):
    (tmp_path / "skyrelay" / "tenants").mkdir(parents=True)
    (tmp_path / "skyrelay" / "tenants" / "web-app").write_text("sk-from-file\n")
    keys = PlainKeys(cfg(), environ={"SKYRELAY_SECRETS_DIR": str(tmp_path),
                                     "SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP": "sk-env"})
    assert keys.authenticate("Bearer sk-from-file", None).name == "secret-tenant"
    assert keys.authenticate("Bearer sk-env", None) is None


def test_two_tenants_with_one_key_is_an_error():
    with pytest.raises(ValueError, match="same API key"):
        PlainKeys(cfg(), environ={"TENANT_ONE_KEY": "sk-x",
                                  "SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP": "sk-x"})


def test_presented_key_forms():
    assert presented_key("Bearer abc", None) == "abc"
    assert presented_key("bearer  abc ", None) == "abc"
    assert presented_key("Basic abc", "k") == "k"
    assert presented_key("Bearer ", None) is None
    assert secret_env_name("skyrelay/tenants/eu-support") \
        == "SKYRELAY_SECRET_SKYRELAY_TENANTS_EU_SUPPORT"
