"""The lists pages over HTTP (a real served page, real SQLite): owners, validity windows and
scopes through add, edit, search, remove, CSV import and export and the JSON API; every
bad field or line is a 400 naming it and writes nothing; every POST needs the CSRF token."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from daemon.store.records import AccessEntry
from tests.support.web import web_site

PERMIT = {"plate": "京a·f0236", "kind": "allow", "owner": "Flat 12", "note": "monthly",
          "valid_from": "2026-12-01T00:00+08:00", "valid_until": "2026-12-31T23:59:59+08:00",
          "direction": "entry"}


def _post(c: httpx.Client, path: str, token: str, data: dict[str, object],
          files: dict[str, tuple[str, bytes, str]] | None = None) -> httpx.Response:
    return c.post(path, data={**data, "csrf": token}, files=files)


def test_add_with_window_and_scope_then_edit_search_and_remove(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0) as site, site.client() as c:
        token = site.login(c)
        r = _post(c, "/lists/add", token, {**PERMIT, "cameras": ["entry-1"]})
        assert r.status_code == 303, r.text
        [e] = site.store.access_entries()
        assert e == AccessEntry(
            "京AF0236", "allow", "monthly", e.created_at, "Flat 12",
            datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
            datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC), ("entry-1",), "entry")
        page = c.get("/lists", params={"q": "flat"}).text
        assert "Flat 12" in page and "entry-1, entry only" in page
        assert "Flat 12" not in c.get("/lists", params={"q": "nobody"}).text
        # adding it again is refused (edit changes it), and nothing changes
        again = _post(c, "/lists/add", token, {**PERMIT, "owner": "other"})
        assert again.status_code == 400 and "already" in again.text
        # the edit page shows the fields; saving changes them (plate and list stay)
        form = c.get("/lists/edit", params={"plate": "京AF0236", "kind": "allow"}).text
        assert 'value="Flat 12"' in form and re.search(r'value="entry-1"\s+checked', form)
        r = _post(c, "/lists/edit", token, {"plate": "京AF0236", "kind": "allow",
                                            "owner": "Flat 14", "valid_until": "",
                                            "cameras": ["entry-1", "exit-1"],
                                            "direction": "any"})
        assert r.status_code == 303, r.text
        [edited] = site.store.access_entries()
        assert (edited.owner, edited.valid_from, edited.valid_until, edited.cameras,
                edited.direction, edited.note) == ("Flat 14", None, None,
                                                   ("entry-1", "exit-1"), "any", None)
        assert c.get("/lists/edit", params={"plate": "京A99999"}).status_code == 404
        doc = c.get("/api/lists", params={"q": "flat 14"}).json()["entries"]
        assert [(d["plate"], d["owner"], d["cameras"], d["direction"], d["valid_until"],
                 d["state"]) for d in doc] == [
            ("京AF0236", "Flat 14", ["entry-1", "exit-1"], "any", None, "holds")]
        r = _post(c, "/lists/remove", token, {"plate": "京AF0236", "kind": "allow"})
        assert r.headers["location"] == "/lists?removed=1"
        assert site.store.access_entries() == []


def test_bad_fields_are_400s_naming_the_field_and_write_nothing(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0) as site, site.client() as c:
        token = site.login(c)
        for bad, named in (
            ({"valid_until": "31/12/2026"}, "valid_until"),
            ({"valid_from": "2027-01-01"}, "valid_from: after valid_until"),
            ({"cameras": ["gate-9"]}, "gate-9"),
            ({"direction": "sideways"}, "direction"),
            ({"owner": "o" * 101}, "owner"),
            ({"owner": "bad\x07bell"}, "control characters"),
            ({"valid_from": "x" * 1000}, "valid_from"),
        ):
            r = _post(c, "/lists/add", token, {**PERMIT, **bad})
            assert r.status_code == 400 and named in r.text, (bad, r.text[:300])
        assert c.post("/lists/add", data={**PERMIT, "csrf": "forged"}).status_code == 403
        assert site.store.access_entries() == []
        site.store.access_put(AccessEntry("京AF0236", "allow", owner="kept"))
        r = _post(c, "/lists/edit", token, {"plate": "京AF0236", "kind": "allow",
                                            "direction": "up"})
        assert r.status_code == 400
        assert [e.owner for e in site.store.access_entries()] == ["kept"]


def test_csv_export_import_round_trip_and_bad_files(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0) as site, site.client() as c:
        token = site.login(c)
        store = site.store
        store.access_put(AccessEntry("京AF0236", "allow", 'says "hi", #3', None, "Flat 12, N",
                                     datetime(2026, 12, 1, tzinfo=UTC),
                                     datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC),
                                     ("entry-1", "exit-1"), "exit"))
        store.access_put(AccessEntry("苏E00001", "deny", "stolen"))
        before = [replace(e, created_at=None) for e in store.access_entries()]
        exported = c.get("/lists.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        csv_bytes = exported.content
        for e in before:
            store.access_remove(e.plate, e.kind)
        r = _post(c, "/lists/import", token, {}, {"file": ("lists.csv", csv_bytes, "text/csv")})
        assert r.headers["location"] == "/lists?added=2&updated=0&removed=0", r.text
        assert [replace(e, created_at=None) for e in store.access_entries()] == before
        assert "2 added" in c.get(r.headers["location"]).text

        bad = "京A12345,allow\n京A22345,allow,,,2026-13-01\n京A32345,allow,,,,,gate-7\n"
        r = _post(c, "/lists/import", token, {},
                  {"file": ("bad.csv", bad.encode(), "text/csv")})
        assert r.status_code == 400
        assert "line 2: valid_from" in r.text and "line 3: cameras" in r.text, r.text
        assert "京A12345" not in {e.plate for e in store.access_entries()}  # nothing written
        r = _post(c, "/lists/import", token, {},
                  {"file": ("latin.csv", "京A12345".encode("gb18030"), "text/csv")})
        assert r.status_code == 400 and "not UTF-8" in r.text
        r = c.post("/lists/import", data={"csrf": "forged"},
                   files={"file": ("l.csv", b"\xe4\xba\xacA12345\n", "text/csv")})
        assert r.status_code == 403
        huge = b"\xe4\xba\xacA12345,allow," + b"n" * (2 * 1024 * 1024) + b"\n"
        r = _post(c, "/lists/import", token, {}, {"file": ("big.csv", huge, "text/csv")})
        assert r.status_code in (400, 413)
        assert [replace(e, created_at=None) for e in store.access_entries()] == before


def test_import_replace_keeps_deny_entries_unless_told(tmp_path: Path) -> None:
    with web_site(tmp_path, passages=0) as site, site.client() as c:
        token = site.login(c)
        site.store.access_put(AccessEntry("苏E00001", "deny", "stolen"))
        site.store.access_put(AccessEntry("京AF0236", "allow"))
        new = "# plate,list\n粤B12345,allow,,visitors,,2026-12-24\n".encode()
        r = _post(c, "/lists/import", token, {"replace": "1"},
                  {"file": ("new.csv", new, "text/csv")})
        assert r.status_code == 400 and "苏E00001" in r.text and "drop deny" in r.text
        assert len(site.store.access_entries()) == 2
        r = _post(c, "/lists/import", token, {"replace": "1", "drop_deny": "1"},
                  {"file": ("new.csv", new, "text/csv")})
        assert r.headers["location"] == "/lists?added=1&updated=0&removed=2", r.text
        [e] = site.store.access_entries()
        assert (e.plate, e.owner, e.valid_until is not None) == ("粤B12345", "visitors", True)
