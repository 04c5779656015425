"""Secrets never leave in clear: every configured secret is scrubbed from whatever Conductor writes
or prints (journal, ``DEPLOYMENTS.md``, signals, reports, stdout/stderr, webhook payloads).

Why a process-wide registry rather than a scrubber handed to each writer: a secret reaches the
output by paths nobody planned — a model echoing the key it was shown, a tool argument carrying
it, a 401 whose message quotes it, a webhook error naming its URL. Every writer calls
:func:`scrub`; the registry is filled once, at the composition root, from the environment and
the config (:func:`register_environment`, :func:`register_config`), and by the few places that
read a secret later (the local platform's control token).

What counts as a secret:

- environment variables named like credentials (``ANTHROPIC_API_KEY``, ``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``, ``*_KEY``) and config strings under such keys (``bearerToken``,
  ``basicAuth.password``), plus the contents of their ``…File`` siblings;
- webhook URLs: the whole URL, its password and its path (a Slack-style URL *is* the credential);
- anything shaped like an Anthropic key (``sk-ant-…``) or a bearer token, configured or not.

Values shorter than :data:`MIN_SECRET` characters are not registered: scrubbing ``"ok"`` would
mangle every text and protect nothing.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MIN_SECRET = 8
_SECRET_ENV = re.compile(r"(?i)(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$")
_SECRET_KEY = re.compile(r"(?i)(token|password|passwd|secret|api_?key|credential)(_?file)?$")
_SHAPED = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}|(?i:(?<=bearer )[A-Za-z0-9._~+/=\-]{8,})")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(*values: str | None) -> None:
    """Scrub these values from now on (short or empty values are ignored)."""
    global _pattern
    fresh = {v.strip() for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SECRET}
    with _lock:
        if fresh - _secrets:
            _secrets.update(fresh)
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: a URL before its path
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_url(url: str) -> None:
    """A URL that carries a credential: the whole URL, its password, its path and query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        register(url)
        return
    register(url, parts.password, parts.path.strip("/") or None, parts.query or None)


def redact_url(url: str) -> str:
    """What may be shown of a credential-carrying URL: its scheme and host (``https://hooks.example.com/…``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    rest = "/…" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}" if host else REDACTED


def register_environment(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    register(*(value for name, value in env.items() if _SECRET_ENV.search(name)))


def register_config(config: Any) -> None:
    """Every secret-looking string of a config (a pydantic model or plain data), and the webhooks."""
    data = config.model_dump(by_alias=True) if hasattr(config, "model_dump") else config
    notify = data.get("notify") if isinstance(data, dict) else None
    for url in (notify or {}).get("webhooks", []) if isinstance(notify, dict) else []:
        if isinstance(url, str):
            register_url(url)
    _walk_config(data)


def _walk_config(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            match = _SECRET_KEY.search(str(key)) if isinstance(value, str) else None
            if match and match.group(2):  # bearerTokenFile / passwordFile: the file holds the secret
                register(_read_small(value))
            elif match:
                register(value)
            elif isinstance(value, str) and "@" in value and "://" in value:
                register(_url_password(value))  # https://user:pass@host in any URL setting
            else:
                _walk_config(value)
    elif isinstance(node, list):
        for item in node:
            _walk_config(item)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:  # a malformed netloc: nothing to extract
        return None


def _read_small(path: str) -> str | None:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8", errors="replace")[:4096].strip()
    except OSError:
        return None


def scrub(text: str) -> str:
    """``text`` with every registered (or key-shaped) secret replaced by ``[redacted]``."""
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _SHAPED.sub(REDACTED, text)


# Exactly these types carry no text: skipped without a call (a health check's payload is mostly
# histogram counts, and a call per number was most of the scrubbing's cost).
_NO_TEXT = frozenset({int, float, bool, type(None)})


def scrub_data(value: Any) -> Any:
    """A copy of JSON-like data with every string (keys included) scrubbed."""
    if type(value) in _NO_TEXT:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: v if type(v) in _NO_TEXT else scrub_data(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _NO_TEXT else scrub_data(v) for v in value]
    return value


def registered() -> Iterable[str]:
    """The registered secrets (tests; never print them)."""
    with _lock:
        return frozenset(_secrets)


__all__ = ["REDACTED", "redact_url", "register", "register_config", "register_environment", "register_url", "scrub",
           "scrub_data"]
