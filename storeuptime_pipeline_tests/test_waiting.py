"""The tests' one waiting helper: returns as soon as the condition holds, fails naming what it waited for."""

from __future__ import annotations

import re
import threading
import time

import pytest

from storeuptime_pipeline_tests.waiting import WaitTimedOut, finishes_within, wait_until


def test_returns_the_first_truthy_value_without_waiting_out_the_timeout() -> None:
    answers = iter([None, 0, "", "ready"])
    began = time.monotonic()
    assert wait_until(lambda: next(answers), 60, "the answer", every=0.01) == "ready"
    assert time.monotonic() - began < 30  # far below the timeout: it did not wait it out


def test_timeout_names_what_it_waited_for_the_last_value_and_the_details() -> None:
    with pytest.raises(WaitTimedOut) as raised:
        wait_until(lambda: [], 0.2, "the finished runs", every=0.05, details=lambda: "log tail")
    assert str(raised.value) == "waited 0.2 s for the finished runs; last seen: []\nlog tail"
    assert isinstance(raised.value, AssertionError)  # reported as the test's failure


def test_the_condition_is_tried_even_with_no_time_left() -> None:
    assert wait_until(lambda: True, 0, "an immediate answer") is True


def test_ignored_exceptions_are_not_yet_and_others_fail_at_once() -> None:
    calls = iter([ConnectionError("not listening"), ConnectionError("still not"), "up"])

    def probe() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(probe, 60, "the server", every=0.01, ignoring=(ConnectionError,)) == "up"
    with pytest.raises(WaitTimedOut, match="last seen: ConnectionError"):
        wait_until(_refused, 0.1, "the server", every=0.02, ignoring=(ConnectionError,))
    began = time.monotonic()
    with pytest.raises(ValueError, match="report failed"):
        wait_until(_failed, 60, "the report", every=0.01)
    assert time.monotonic() - began < 30  # failed fast, not at the timeout


def _refused() -> object:
    raise ConnectionError("refused")


def _failed() -> object:
    raise ValueError("report failed")


def test_finishes_within_returns_the_result_or_names_the_call_that_hangs() -> None:
    assert finishes_within(lambda: 42, 10, "a quick call") == 42
    with pytest.raises(KeyError):
        finishes_within(lambda: {}["missing"], 10, "a failing call")
    release = threading.Event()
    try:
        with pytest.raises(
            WaitTimedOut, match=re.escape("waited 0.2 s for the server to start; it has not returned")
        ):
            finishes_within(lambda: release.wait(30), 0.2, "the server to start")
    finally:
        release.set()
