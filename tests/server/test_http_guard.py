"""The request guard's parts on their own: whole-name Host/Origin matching, the per-address failure
throttle (bounded in memory), the rate-bounded failure log, and bad --allowed-hosts at start-up."""

from __future__ import annotations

import logging

import pytest

from finetune_advisor.errors import ConfigurationError
from finetune_advisor.server.http import security_settings
from finetune_advisor.server.http_guard import FailureLog, FailureThrottle, HostRules, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RULES = HostRules(
    ["localhost:*", "advisor.internal:8000", "[::1]:*", "10.0.0.5"],
    ["http://localhost:*", "https://advisor.internal:8000"],
)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost:8000", True), ("LOCALHOST:1", True), ("localhost", False), ("localhost:", False),
        ("localhost:evil.com", False), ("localhost:80@evil.com", False), ("localhost:8000/x", False),
        ("evil-localhost:80", False), ("localhost.:80", False), ("advisor.internal:8000", True),
        ("advisor.internal:8001", False), ("advisor.internal", False), ("[::1]:9", True), ("[::1]", False),
        ("[::1]x:9", False), ("10.0.0.5", True), ("10.0.0.5:80", False), ("10.0.0.50", False), ("", False),
        (None, False),
    ],
)
def test_host_patterns_match_whole_names(host: str | None, allowed: bool) -> None:
    assert RULES.allows_host(host) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True), ("http://localhost:3000", True), ("https://localhost:3000", False),
        ("http://localhost:evil.com", False), ("http://localhost", False), ("http://localhost:3000/", False),
        ("https://advisor.internal:8000", True), ("http://advisor.internal:8000", False), ("null", False),
        ("file://", False),
    ],
)
def test_origin_patterns_match_scheme_and_whole_names(origin: str | None, allowed: bool) -> None:
    assert RULES.allows_origin(origin) is allowed


@pytest.mark.parametrize("pattern", ["evil.com/x", "host:port", "a b", "host:*:*", "*"])
def test_a_malformed_allowed_host_is_refused_at_start_up(pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=r"--allowed-hosts: .* is not a host pattern\. Accepted: "):
        security_settings("0.0.0.0", 8000, "x" * 40, [pattern])


def test_the_throttle_counts_per_address_and_forgets_after_the_window() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("a") == 0
        throttle.failed("a")
    assert throttle.retry_after("a") == 60 and throttle.retry_after("b") == 0
    clock.now += 59
    assert throttle.retry_after("a") == pytest.approx(1)
    clock.now += 1
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    assert throttle.retry_after("a") == 0  # a new window: one failure so far


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = FailureThrottle(limit=1, window=60, clock=Clock(), max_tracked=100)
    for i in range(10_000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle.windows) == 100
    assert throttle.retry_after("10.0.39.15") > 0 and throttle.retry_after("10.0.0.0") == 0


@pytest.mark.parametrize(
    ("client", "key"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("2001:db8:1:2:3:4:5:6", 5000), "2001:db8:1:2::/64"),  # one /64 is one client: it holds 2^64 addresses
        (("2001:db8:1:2:ffff::1", 5000), "2001:db8:1:2::/64"),
        (("::ffff:203.0.113.7", 5000), "203.0.113.7"),
        (None, "unknown"),
    ],
)
def test_failures_are_counted_per_ipv4_address_and_per_ipv6_64(client: tuple | None, key: str) -> None:
    assert client_key({"client": client}) == key


def test_failures_are_logged_at_most_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = FailureLog(interval=60, clock=clock)
    caplog.set_level(logging.WARNING)
    for i in range(1000):
        log.note(f"10.0.0.{i % 7}", "wrong bearer token")
    assert len(caplog.records) == 1
    clock.now += 60
    log.note("10.0.0.9", "missing bearer token")
    assert len(caplog.records) == 2
    assert "and 999 more from 7 address(es)" in caplog.records[1].getMessage()
