"""No configured secret is ever written or printed: not in the journal, DEPLOYMENTS.md, signals,
the report, stdout or stderr — whichever way it got there (a model echoing the key it was shown, a
tool argument carrying it, a 401 quoting it, a webhook URL with credentials)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from conductor import redact
from conductor.session import Conductor
from tests.conftest import Workspace, release_config
from tests.models.fake_api import FakeMessagesAPI, error, message, text, tool

KEY = "ak-live-Q7f3x9Lm2pR8sT4vW1yZ"  # not shaped like an Anthropic key: only the registry can catch it


def leaks(ws: Workspace, secret: str, *printed: str) -> list[str]:
    """Where ``secret`` appears: files under .mothership (journal with its WAL, DEPLOYMENTS.md, ...)
    and the printed texts."""
    found = [name for name, data in ws.state_files().items() if secret.encode() in data]
    return found + [f"printed #{i}" for i, blob in enumerate(printed) if secret in blob]


def test_a_model_echoing_the_key_and_tool_arguments_carrying_it(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write_config(release_config())
    paused = workspace.cli(capsys, "orchestrate", "canary", "10", "--model", "policy")
    assert paused.code == 0, paused.out  # the canaries take 10%: a rollback now is a real one
    FakeMessagesAPI([
        message(text(f"I was given the key {KEY}."), tool("rollback", service="api", reason=f"bad, key={KEY}")),
        message(tool("rollback", service="web", reason=f"{KEY}")),
        message(tool("rollback", service="worker", reason=f"Bearer {KEY}")),
        message(text(f"Done. For the record the key is {KEY}")),
    ]).install(monkeypatch, key=KEY)
    result = workspace.cli(capsys, "orchestrate", "canary", "25")
    assert result.code == 3, (result.out, result.err)
    assert "<conductor>ROLLBACK:api:bad, key=[redacted]</conductor>" in result.out, result.out
    assert (workspace.state_dir / "DEPLOYMENTS.md").exists()
    assert leaks(workspace, KEY, result.out, result.err) == []
    events = workspace.journal_events("tool_call")
    assert any("[redacted]" in str(e.data.get("arguments")) for e in events)  # scrubbed, not dropped
    status = workspace.cli(capsys, "orchestrate", "--json")
    assert leaks(workspace, KEY, status.out, status.err) == []


def test_a_401_echoing_the_key(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = release_config()
    config["model"] = {"maxRetries": 0}
    workspace.write_config(config)
    replies: list[Any] = [error(401, "authentication_error", f"invalid x-api-key: {KEY}") for _ in range(2)]
    FakeMessagesAPI(replies).install(monkeypatch, key=KEY)
    for extra in ([], ["--json"]):  # the first run pauses at 10%; the second is the approval of 25%
        result = workspace.cli(capsys, "orchestrate", "canary", "10" if not extra else "25", *extra)
        assert "the API key was rejected (401" in result.out, result.out
        assert leaks(workspace, KEY, result.out, result.err) == []


def test_webhook_urls_with_credentials(workspace: Workspace) -> None:
    from conductor.notify import Notifier

    secret_path = "services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
    url = f"https://bot:pa55w0rd-pa55w0rd@hooks.example.test/{secret_path}"
    config = release_config()
    config["notify"] = {"webhooks": [url]}
    workspace.write_config(config)
    conductor = Conductor.from_config(workspace.config_path)

    def refuse(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(500, text=f"cannot post to {request.url}")

    conductor.__dict__["notifier"] = Notifier(conductor.config.notify, transport=httpx2.MockTransport(refuse))
    try:
        result = conductor.run("/orchestrate canary 10")
    finally:
        conductor.close()
    assert workspace.journal_events("notify_failed")
    for secret in ("pa55w0rd-pa55w0rd", secret_path, url):
        assert leaks(workspace, secret, result.report) == [], secret


def test_other_configured_secrets_are_registered() -> None:
    redact.register_environment({"GITHUB_TOKEN": "ghp_abcdefghijklmnop", "PATH": "/usr/bin:/bin", "HOME": "/root"})
    metrics = {"bearerToken": "prom-token-123456", "basicAuth": {"password": "hunter2hunter2"}}
    redact.register_config({"metrics": metrics, "model": {"tokenBudget": 400000}})
    text = "ghp_abcdefghijklmnop prom-token-123456 hunter2hunter2 /usr/bin:/bin sk-ant-api03-unconfigured-key"
    assert redact.scrub(text) == "[redacted] [redacted] [redacted] /usr/bin:/bin [redacted]"
