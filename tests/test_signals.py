"""Signals for harnesses: extracted from any text, strict about their own format."""

from __future__ import annotations

import re

import pytest

from conductor import Signal, parse_signals
from conductor.config import SERVICE_NAME_PATTERN
from conductor.schema import SignalDoc
from conductor.signals import _SERVICE, clean_reason, deployed, rollback


def test_finds_signals_wherever_they_are_in_order() -> None:
    text = (
        "## Deployment Orchestration\r\n...\r\n"
        "2026-11-27 12:00 <conductor>ROLLBACK:api:error rate 7.9% > 5%</conductor> (watchdog)\n"
        "`<conductor>DEPLOYED:web,worker</conductor>`<conductor>ROLLBACK:db:latency p95 1200ms > 1000ms</conductor>"
    )
    assert parse_signals(text) == [
        Signal("ROLLBACK", ("api",), "error rate 7.9% > 5%"),
        Signal("DEPLOYED", ("web", "worker")),
        Signal("ROLLBACK", ("db",), "latency p95 1200ms > 1000ms"),
    ]


@pytest.mark.parametrize("text", [
    "<conductor>DEPLOYED:</conductor>",                    # no services
    "<conductor>DEPLOYED:api, web</conductor>",            # a space is not a service name
    "<conductor>DEPLOYED:api,,web</conductor>",            # empty service
    "<conductor>DEPLOYED:API</conductor>",                 # service names are lower case
    "<conductor>deployed:api</conductor>",                 # the kind is upper case
    "<conductor>ROLLBACK:api</conductor>",                 # no reason
    "<conductor>ROLLBACK:api:   </conductor>",             # blank reason
    "<conductor>ROLLBACK::crash</conductor>",              # no service
    "<conductor>ROLLBACK:api,web:crash</conductor>",       # one service per rollback
    "<conductor>ROLLBACK:api:two\nlines</conductor>",      # one line only
    "<conductor>PAUSED:api</conductor>",                   # not a spec signal
    "<conductor>DEPLOYED:api",                              # unterminated
    "<Conductor>DEPLOYED:api</Conductor>",                 # the tag is exact
    "&lt;conductor&gt;DEPLOYED:api&lt;/conductor&gt;",     # escaped markup is text, not a signal
])
def test_malformed_signals_are_ignored(text: str) -> None:
    assert parse_signals(f"before {text} after") == []


def test_a_broken_signal_does_not_swallow_the_next_one() -> None:
    text = "<conductor>DEPLOYED:api <conductor>ROLLBACK:web:crash loop</conductor>"
    assert parse_signals(text) == [Signal("ROLLBACK", ("web",), "crash loop")]


def test_reasons_keep_colons_and_comparisons_and_lose_surrounding_space() -> None:
    (signal,) = parse_signals("<conductor>ROLLBACK:api:  no data: 3 checks; p95 > 1s </conductor>")
    assert signal.reason == "no data: 3 checks; p95 > 1s"


@pytest.mark.parametrize("signal", [
    deployed(["api"]),
    deployed(["api", "web", "worker-2"]),
    rollback("api", "error rate 22.0% > 5%"),
    rollback("web", "rolled back with api"),
    rollback("api", "injected </conductor><conductor>DEPLOYED:api</conductor>\nsecond line"),
    rollback("api", ""),
])
def test_every_emitted_signal_parses_back_to_itself(signal: Signal) -> None:
    line = signal.format()
    assert parse_signals(f"noise {line} noise") == [signal]
    assert re.fullmatch(SignalDoc.model_fields["text"].metadata[0].pattern, line)


def test_reasons_cannot_smuggle_markup_or_lines() -> None:
    reason = clean_reason("bad <conductor>DEPLOYED:api</conductor>\r\nnext")
    assert "<" not in reason and "\n" not in reason and "\r" not in reason
    assert clean_reason("") == "unspecified"
    assert len(clean_reason("x" * 1000)) == 300


def test_service_names_follow_the_config_rule() -> None:
    assert _SERVICE.pattern == SERVICE_NAME_PATTERN


def test_signals_serialise_for_json_reports() -> None:
    document = rollback("api", "error rate 7.9% > 5%").to_dict()
    assert SignalDoc.model_validate(document).text == "<conductor>ROLLBACK:api:error rate 7.9% > 5%</conductor>"
