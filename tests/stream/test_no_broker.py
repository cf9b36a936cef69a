"""Commands that need the broker say so in one line when none answers at ENGINE_BROKER."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.stream.broker import free_port


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> str:
    """ENGINE_BROKER set to a loopback port nothing listens on."""
    url = f"kafka://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ENGINE_BROKER", url)
    monkeypatch.setenv("ENGINE_WEB_PORT", str(free_port()))
    return url


@pytest.mark.parametrize("command", [["topics", "create"], ["worker"], ["replay", "{path}"]])
def test_a_command_without_a_broker_fails_with_a_message_naming_the_variable(
    nowhere: str, command: list[str], tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1}\n')
    args = [part.format(path=events) for part in command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: ENGINE_BROKER: no broker answers at {nowhere} "
        "(is it running, and is the address right?)"
    )
    assert "Traceback" not in result.output
    if command == ["worker"]:  # first the settings it runs with
        assert result.output.startswith(
            f"engine worker: settings changed from the defaults: ENGINE_BROKER={nowhere} "
            "ENGINE_WEB_PORT=")
    else:
        assert len(result.output.strip().splitlines()) == 1


def test_a_broker_url_with_a_bad_port_stops_the_command_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGINE_BROKER", "kafka://127.0.0.1:99999")
    result = CliRunner().invoke(main, ["topics", "create"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ENGINE_BROKER: expected kafka://host:port with a port")


def test_a_misspelt_variable_is_warned_about_on_stderr(
    nowhere: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGINE_TOPN", "5")
    result = CliRunner().invoke(main, ["topics", "create"])
    assert ("warning: ENGINE_TOPN is not a setting and is ignored; did you mean ENGINE_TOP_N?"
            in result.output)
