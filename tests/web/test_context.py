"""The page's time zone: the machine's zone with its daylight-saving rules, not the offset
of the moment the daemon started."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.web.context import local_zone

WINTER = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
SUMMER = datetime(2027, 7, 15, 12, 0, tzinfo=UTC)
ZONES = Path("/usr/share/zoneinfo")


def test_tz_names_a_zone_with_its_summer_time(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (ZONES / "America/New_York").exists():
        pytest.skip("no tzdata on this machine (/usr/share/zoneinfo)")
    monkeypatch.setenv("TZ", ":America/New_York")
    tz = local_zone()
    assert WINTER.astimezone(tz).utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]
    assert SUMMER.astimezone(tz).utcoffset().total_seconds() == -4 * 3600  # type: ignore[union-attr]


def test_without_tz_the_localtime_file_gives_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TZ", raising=False)
    berlin = ZONES / "Europe/Berlin"
    if not berlin.exists():
        pytest.skip("no tzdata on this machine (/usr/share/zoneinfo)")
    tz = local_zone(berlin)
    assert SUMMER.astimezone(tz).utcoffset() != WINTER.astimezone(tz).utcoffset()


def test_unreadable_zone_falls_back_to_the_current_offset(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("TZ", "Nowhere/Atlantis")  # not a zone: no exception, a fixed offset
    tz = local_zone()
    assert tz.utcoffset(WINTER) == tz.utcoffset(SUMMER) == datetime.now().astimezone().utcoffset()
    monkeypatch.delenv("TZ")
    tz = local_zone(tmp_path / "missing")
    assert tz.utcoffset(WINTER) == tz.utcoffset(SUMMER) == datetime.now().astimezone().utcoffset()
