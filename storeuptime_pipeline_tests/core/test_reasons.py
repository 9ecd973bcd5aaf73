"""Reject reasons have one owner, ``RejectReason``: the rules, the pandera checks, the stored rows and
the CLI's lines all use its texts, and the core reads no file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import storeuptime_pipeline.core as core_package
from storeuptime_pipeline.core.inputs import KINDS
from storeuptime_pipeline.core.reasons import NOT_COUNTED_REASONS, Note, RejectReason
from storeuptime_pipeline.core.rules import RULES
from storeuptime_pipeline.core.schemas import MODELS
from storeuptime_pipeline.fileio.csv_input import read_input


def _pattern(reason: RejectReason) -> re.Pattern[str]:
    """The texts a reason can take: its value, with any ``{detail}`` standing for some text."""
    parts = re.split(r"\{\w+\}", reason.value)
    return re.compile(".+".join(re.escape(p) for p in parts))


def _reason_of(text: str) -> RejectReason:
    matches = [r for r in RejectReason if _pattern(r).fullmatch(text)]
    assert len(matches) == 1, (text, matches)
    return matches[0]


def test_a_reason_prints_and_compares_as_its_text() -> None:
    # A plain (str, Enum) would print "RejectReason.EMPTY_ROW" in an f-string on Python 3.11.
    assert f"{RejectReason.EMPTY_ROW}" == str(RejectReason.EMPTY_ROW) == "every field is empty"
    assert RejectReason.SUPERSEDED == "duplicate store_id: a later row wins"
    assert RejectReason.STORE_ID_TOO_LONG.text() == "store_id longer than 255 characters"
    assert RejectReason.WRONG_FIELD_COUNT.text(expected=3) == "wrong number of fields (expected 3)"
    with pytest.raises(ValueError, match="WRONG_FIELD_COUNT needs 'expected'"):
        RejectReason.WRONG_FIELD_COUNT.text()
    assert {"duplicate store_id: a later row wins"} == NOT_COUNTED_REASONS
    assert {n.value for n in Note} == {"invalid_timezones", "empty_timezones"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_pandera_checks_are_named_by_the_rules_reasons(kind: str) -> None:
    texts = {text for rule in RULES[kind] for text in rule.texts()}
    for text in texts:
        _reason_of(text)  # every rule's text is one RejectReason's
    columns = MODELS[kind].to_schema().columns
    named = {check.name for column in columns.values() for check in column.checks}
    assert texts <= named


def test_every_reason_given_for_a_messy_file_is_a_reject_reason(tmp_path: Path) -> None:
    path = tmp_path / "store_status.csv"
    path.write_bytes(
        b"store_id,status,timestamp_utc\n1,active,2023-01-22 12:00:00 UTC\n,active,2023-01-22 12:00:00 UTC\n"
        b"2,maybe,2023-01-22 12:00:00 UTC\n3,active,noon\n4,active,1999-01-01 00:00:00 UTC\n"
        + b"5"
        * 300
        + b",active,2023-01-22 12:00:00 UTC\n6\x01,active,2023-01-22 12:00:00 UTC\n,,\n7,active\n"
        b"8\xff,active,2023-01-22 12:00:00 UTC\n"
    )
    result = read_input(path, "status")
    given = {_reason_of(text) for text in result.rejected["reason"]}
    assert given == {
        RejectReason.EMPTY_STORE_ID,
        RejectReason.STATUS_NOT_ACTIVE_INACTIVE,
        RejectReason.UNREADABLE_TIMESTAMP,
        RejectReason.TIMESTAMP_OUT_OF_RANGE,
        RejectReason.STORE_ID_TOO_LONG,
        RejectReason.STORE_ID_CONTROL_CHARACTER,
        RejectReason.EMPTY_ROW,
        RejectReason.WRONG_FIELD_COUNT,
        RejectReason.NOT_UTF8,
    }
    assert all(type(text) is str for text in result.rejected["reason"])  # stored as plain text


_FILE_CALLS = {"open", "read_csv", "read_bytes", "read_text", "write_text", "write_bytes", "iterdir"}


def test_the_core_opens_no_file() -> None:
    """Frames in, frames out: file input is ``fileio``'s (an ``open`` here would be a second reader)."""
    found = []
    for source in sorted(Path(core_package.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call):
                name = (
                    node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                )
                if name in _FILE_CALLS:
                    found.append(f"{source.name}:{node.lineno} {name}()")
    assert found == []
