"""Notifications to the configured webhooks (the spec's "notify stakeholders"), over httpx2.

Best effort by design: a webhook that is down (or raises anything at all) is journaled
(``notify_failed``, with the URL's credentials and the error's secrets scrubbed) and never blocks,
delays past its timeout, or fails a deployment or a rollback.
"""

from __future__ import annotations

from typing import Protocol

import httpx2

from conductor.config import Notify
from conductor.journal.events import NotifyFailed
from conductor.redact import redact_url, scrub
from conductor.signals import deliver, neutralize


class Reporting(Protocol):
    """The orchestration a notification reports on, as the notifier needs it: its id and clock, and
    the journal to record a failed webhook in (a :class:`~conductor.tools.runtime.Runtime` is one)."""

    @property
    def orchestration_id(self) -> int: ...

    def now(self) -> float: ...

    def record(self, payload: NotifyFailed, service: str | None, actor: str) -> object: ...


class Notifier:
    def __init__(self, settings: Notify, transport: httpx2.BaseTransport | None = None) -> None:
        self._settings = settings
        self._client = httpx2.Client(timeout=settings.timeout, transport=transport) if settings.webhooks else None

    def send(self, event: str, text: str, rt: Reporting) -> None:
        if self._client is None:
            return
        payload = {"event": event, "text": scrub(text), "orchestration": rt.orchestration_id, "at": rt.now()}
        for url in self._settings.webhooks:
            try:
                response = self._client.post(url, json=payload)
                response.raise_for_status()
            except Exception as exc:
                # The URL may be the credential (Slack-style) and the error may quote it or the response.
                self._failed(rt, event, url, neutralize(scrub(f"{type(exc).__name__}: {exc}"))[:500])

    @staticmethod
    def _failed(rt: Reporting, event: str, url: str, error: str) -> None:
        deliver(lambda: rt.record(NotifyFailed(url=redact_url(url), event=event, error=error), None, "notifier"))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
