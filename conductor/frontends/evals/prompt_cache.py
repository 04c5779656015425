"""A model of the Messages API's prompt cache, for scripted cassettes and the cost benchmark.

No machine here reaches the API, so scripted turns cannot report the API's own ``usage``. This
model computes it from the request as sent, the way the documented cache works:

- the prompt is the sequence tools → system → messages, block by block; each block marked
  ``cache_control`` is a breakpoint whose entry covers everything up to it;
- a request reads the longest prefix whose entry is still alive and renews it; every later
  breakpoint is written, with the lifetime its ``cache_control`` asks for (``ttl`` ``"1h"`` or
  the default 5 minutes), counted per lifetime like ``usage.cache_creation``;
- tokens after the last breakpoint are plain input.

Token counts are an estimate — about 4 characters of JSON per token, the same figure the
scripted ``count_tokens`` answers — and so is everything derived from them: reports and the
benchmark label them "estimated". The API's minimum cacheable prefix (1,024 tokens and up, by
model) is not modelled: Conductor's static prefix is well above it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


def tokens(value: Any) -> int:
    """The estimate: ~4 characters of compact JSON per token (at least 1)."""
    return max(1, len(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) // 4)


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    system = body.get("system")
    if isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    elif isinstance(system, list):
        blocks += [b for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            blocks.append({"role": message.get("role"), "text": content})
        else:
            blocks += [{"role": message.get("role"), **b} for b in content or [] if isinstance(b, dict)]
    return blocks


def prompt_tokens(body: dict[str, Any]) -> int:
    """What ``count_tokens`` answers for ``body``: every input token, cached or not."""
    return sum(tokens(_without_cache_control(b)) for b in _blocks(body))


def _without_cache_control(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


@dataclass
class PromptCache:
    """The cache entries one API key would hold: prefix digest → expiry (seconds, the run's clock)."""

    entries: dict[str, float] = field(default_factory=dict)
    lifetimes: dict[str, float] = field(default_factory=dict)  # prefix digest → its ttl (a read renews it)

    def usage(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        """``usage`` for one request at ``now`` (input, cache read, cache writes per lifetime).

        A hit is looked for at every block boundary, not only at this request's breakpoints:
        the moving breakpoint of the last turn sits on a block that is no longer marked now.
        """
        digest = hashlib.sha256()
        total = 0
        boundaries: list[tuple[str, int]] = []  # (prefix digest, tokens up to it), every block
        breakpoints: list[tuple[int, float]] = []  # (index into boundaries, ttl seconds)
        for block in _blocks(body):
            plain = _without_cache_control(block)
            digest.update(json.dumps(plain, sort_keys=True, ensure_ascii=False).encode())
            total += tokens(plain)
            boundaries.append((digest.copy().hexdigest(), total))
            control = block.get("cache_control")
            if isinstance(control, dict):
                breakpoints.append((len(boundaries) - 1, TTL_SECONDS.get(str(control.get("ttl")), 300.0)))
        last = breakpoints[-1][0] if breakpoints else -1
        hit = max((i for i in range(last + 1) if self.entries.get(boundaries[i][0], -1.0) >= now), default=-1)
        read = boundaries[hit][1] if hit >= 0 else 0
        written = {300.0: 0, 3600.0: 0}
        previous = read
        for index, ttl in breakpoints:
            key, upto = boundaries[index]
            if index <= hit:
                continue  # inside the part read from the cache
            self.entries[key], self.lifetimes[key] = now + ttl, ttl
            written[ttl] += upto - previous
            previous = upto
        if hit >= 0:  # a read renews the entry it hit, for the lifetime it was written with
            key = boundaries[hit][0]
            self.entries[key] = max(self.entries[key], now + self.lifetimes.get(key, 300.0))
        cached_upto = boundaries[last][1] if last >= 0 else 0
        return {
            "input_tokens": max(total - max(cached_upto, read), 1),
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written[300.0] + written[3600.0],
            "cache_creation": {"ephemeral_5m_input_tokens": written[300.0],
                               "ephemeral_1h_input_tokens": written[3600.0]},
        }
