"""The lists' text forms (daemon.store.listfile), pure: days and times in a given zone,
cameras and directions checked, a file exported and read back to the same entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from daemon.store.listfile import (
    EntryError,
    Fields,
    parse_changes,
    parse_entry,
    parse_file,
    parse_when,
    search,
    to_csv,
)
from daemon.store.records import AccessEntry

BEIJING = timezone(timedelta(hours=8))


def test_a_day_is_its_first_or_last_second_in_the_local_zone() -> None:
    assert parse_when("f", "2026-12-01", BEIJING, end=False) == datetime(
        2026, 11, 30, 16, 0, tzinfo=UTC)
    assert parse_when("u", "2026-11-30", BEIJING, end=True) == datetime(
        2026, 11, 30, 15, 59, 59, tzinfo=UTC)
    assert parse_when("u", "2026-12-01 08:30", BEIJING, end=True) == datetime(
        2026, 12, 1, 0, 30, tzinfo=UTC)
    assert parse_when("u", "2026-12-01T08:30:07.9Z", BEIJING, end=True) == datetime(
        2026, 12, 1, 8, 30, 7, tzinfo=UTC)  # an explicit zone wins; to the second
    assert parse_when("u", " ", BEIJING, end=True) is None
    # daylight saving: the zone's own rules for that day, not today's offset
    paris = ZoneInfo("Europe/Paris")
    assert parse_when("f", "2026-07-01", paris, end=False) == datetime(
        2026, 6, 30, 22, 0, tzinfo=UTC)
    assert parse_when("f", "2026-12-01", paris, end=False) == datetime(
        2026, 11, 30, 23, 0, tzinfo=UTC)
    for bad in ("31/12/2026", "2026-02-30", "tomorrow"):
        with pytest.raises(EntryError, match="valid_until"):
            parse_when("valid_until", bad, BEIJING, end=True)


def test_entry_fields_are_checked() -> None:
    e = parse_entry(Fields("京a·f0236", "", "n", "Flat 1", "", "", "exit-1;entry-1,exit-1",
                           "EXIT"), tz=BEIJING, cameras=["entry-1", "exit-1"])
    assert (e.plate, e.kind, e.cameras, e.direction) == ("京AF0236", "allow",
                                                         ("exit-1", "entry-1"), "exit")
    for fields, why in ((Fields("京AF0236", cameras="gate-9"), "gate-9"),
                        (Fields("京AF0236", direction="in"), "direction"),
                        (Fields("京AF0236", kind="maybe"), "allow or deny"),
                        (Fields("XX12"), "not a valid plate"),
                        (Fields("京AF0236", owner="a\x00b"), "control"),
                        (Fields("京AF0236", valid_from="2026-12-02", valid_until="2026-12-01"),
                         "after valid_until")):
        with pytest.raises(EntryError, match=why):
            parse_entry(fields, tz=BEIJING, cameras=["entry-1"])
    assert parse_changes({"cameras": "", "valid_until": "2026-12-31"}, tz=BEIJING) == {
        "cameras": (), "valid_until": datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)}
    with pytest.raises(EntryError, match="plate"):
        parse_changes({"plate": "京A12345"})


def test_export_reads_back_to_the_same_entries_in_any_zone() -> None:
    entries = [
        AccessEntry("苏E00001", "deny", "stolen, twice", None, None, None,
                    datetime(2027, 1, 31, 12, 0, tzinfo=UTC)),
        AccessEntry("京AF0236", "allow", 'a "quoted" #note', None, "Flat 12, north",
                    datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
                    datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC), ("entry-1", "exit-1"),
                    "entry"),
        AccessEntry("粤B12345", "allow"),
    ]
    for tz in (BEIJING, UTC, ZoneInfo("America/New_York")):
        text = to_csv(entries, tz)
        got = parse_file(text, tz=UTC, cameras=["entry-1", "exit-1"])  # offsets are written
        assert (got.errors, got.entries) == ([], entries), text
        assert got.skipped == [(1, "comment")]


def test_search_looks_at_plate_owner_note_and_cameras() -> None:
    a = AccessEntry("京AF0236", "allow", "monthly", owner="Flat 12", cameras=("entry-1",))
    b = AccessEntry("粤B12345", "deny", "stolen")
    assert search([a, b], "") == [a, b]
    assert search([a, b], "af02") == [a]  # plate, normalised
    assert search([a, b], "FLAT") == [a]
    assert search([a, b], "stolen") == [b]
    assert search([a, b], "entry-1") == [a]
    assert search([a, b], "nobody") == []


def test_export_keeps_spreadsheets_from_running_notes_as_formulas() -> None:
    notes = ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "'=already", "''", "'q", "'",
             "plain"]
    entries = [AccessEntry(f"京A1234{i}", "allow", note, owner=note) for i, note in
               enumerate(notes)]
    text = to_csv(entries, UTC)
    cells = [row.split(",", 3)[2] for row in text.splitlines()[1:]]
    # a cell a spreadsheet would evaluate starts with ' (csv quotes the ones with quotes)
    assert all(not c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells), cells
    assert cells[-1] == "plain" and cells[-2] == "'" and cells[-3] == "'q"
    got = parse_file(text, tz=UTC)
    assert (got.errors, got.entries) == ([], entries), text
    hand = parse_file("京A00001,allow,'q note,'=owner\n", tz=UTC)  # typed by hand
    assert (hand.entries[0].note, hand.entries[0].owner) == ("'q note", "=owner")
