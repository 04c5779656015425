"""Notifications to the configured webhooks (the spec's "notify stakeholders"), over httpx2.

Best effort by design: a webhook that is down is journaled (``notify_failed``) and never blocks,
delays past its timeout, or fails a deployment or a rollback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2

from conductor.config import Notify
from conductor.journal.events import NotifyFailed

if TYPE_CHECKING:
    from conductor.tools.runtime import Runtime


class Notifier:
    def __init__(self, settings: Notify, transport: httpx2.BaseTransport | None = None) -> None:
        self._settings = settings
        self._client = httpx2.Client(timeout=settings.timeout, transport=transport) if settings.webhooks else None

    def send(self, event: str, text: str, rt: Runtime) -> None:
        if self._client is None:
            return
        payload = {"event": event, "text": text, "orchestration": rt.orchestration_id, "at": rt.now()}
        for url in self._settings.webhooks:
            try:
                response = self._client.post(url, json=payload)
                response.raise_for_status()
            except httpx2.HTTPError as exc:
                rt.record(NotifyFailed(url=url, event=event, error=str(exc)), None, "notifier")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
