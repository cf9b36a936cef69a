"""`engine settings` and the worker's start line: every setting as it is read, secrets hidden."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.settings import SECRETS, load_settings, settings_lines


def test_every_setting_is_listed_once_and_the_listing_reads_back_as_the_same_settings() -> None:
    settings = load_settings({"ENGINE_TOP_N": "7", "ENGINE_VARIANTS": "learned:1,heuristic:1",
                              "ENGINE_TOPIC_CLICKSTREAM": "clicks"})
    lines = settings_lines(settings)
    names = [line.split("=", 1)[0] for line in lines]
    assert len(names) == len(set(names))
    assert {"ENGINE_BROKER", "ENGINE_TOP_N", "ENGINE_TOPIC_CLICKSTREAM", *SECRETS} <= set(names)
    assert load_settings(dict(line.split("=", 1) for line in lines)) == settings


def test_secrets_are_never_shown() -> None:
    env = {"ENGINE_API_TOKEN": "tok-123", "ENGINE_PSEUDONYM_KEY": "key-456",
           "ENGINE_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "ENGINE_BROKER_SASL_USERNAME": "engine", "ENGINE_BROKER_SASL_PASSWORD": "pw-789"}
    lines = settings_lines(load_settings(env))
    for secret in ("tok-123", "key-456", "pw-789"):
        assert not any(secret in line for line in lines)
    assert {f"{var}=***" for var in SECRETS} <= set(lines)
    assert "ENGINE_BROKER_SASL_USERNAME=engine" in lines


def test_changed_only_lists_what_differs_from_the_defaults() -> None:
    assert settings_lines(load_settings({}), changed_only=True) == []
    assert settings_lines(load_settings({"ENGINE_TOP_N": "5", "ENGINE_TOPIC_DEADLETTER": "dlq"}),
                          changed_only=True) == ["ENGINE_TOP_N=5", "ENGINE_TOPIC_DEADLETTER=dlq"]


def test_engine_settings_prints_them_and_stops_on_a_malformed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGINE_TOP_N", "5")
    monkeypatch.setenv("ENGINE_API_TOKEN", "s3cret")
    result = CliRunner().invoke(main, ["settings", "--changed"])
    assert result.exit_code == 0
    assert result.output.splitlines() == ["ENGINE_TOP_N=5", "ENGINE_API_TOKEN=***"]
    assert "ENGINE_WEB_PORT=6066" in CliRunner().invoke(main, ["settings"]).output.splitlines()
    monkeypatch.setenv("ENGINE_TOP_N", "five")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: ENGINE_TOP_N: expected an integer, got 'five'"
