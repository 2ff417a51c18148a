"""The operator page in a real browser: Debian's headless Chromium driven by Selenium.

A real App (clip camera, the Tencent emulator, a private mosquitto, SQLite) serves the
page; the browser logs in, adds and edits allow entries with an owner, a validity window
and a camera scope (the replayed cars' passages honour them: allowed on the entry's
camera, ``allow_other_camera`` off it), sees a passage appear without a reload, opens a gate by hand
(the gate command is read off the broker) and finds it in the audit. Every page is
screenshotted to ``.artifacts/web/`` (git-ignored) and checked for labels and contrast.
Nothing is downloaded: chromium and chromium-driver come from scripts/setup.sh.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from daemon.app import App
from daemon.config.secrets import Secrets
from daemon.ocr.emulator.server import EmulatorServer
from scripts.rig.broker import Mosquitto, Subscriber
from scripts.rig.clips import ClipStore, clips
from tests.support.config import make_config
from tests.support.daemon import E2E_SECRET_ID, E2E_SECRET_KEY, wait_until
from tests.support.web import _HASH, PASSWORD, USER

__all__ = ["clips"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "web"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
                       reason="chromium and chromium-driver not installed (scripts/setup.sh)"),
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A headless Chromium with a fresh profile, no network beyond loopback needed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
                "--window-size=1100,900", "--lang=en-US"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 5000, f"{name}: screenshot looks empty"
    return path


_A11Y_JS = """
const out = {unlabelled: [], pairs: []};
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
  const named = byFor || el.closest('label') || el.getAttribute('aria-label');
  if (!named) out.unlabelled.push(el.outerHTML);
}
function bg(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
  }
  return 'rgb(255, 255, 255)';
}
const seen = new Set();
const sel = 'body, nav, nav a, a, th, td, .allow, .deny, .late, .muted, .plate, .error, '
  + '.warn, button, label, h1, h2, dt, dd';
for (const el of document.querySelectorAll(sel)) {
  if (!el.textContent.trim() || el.offsetParent === null && el.tagName !== 'BODY') continue;
  const pair = getComputedStyle(el).color + '|' + bg(el) + '|' + el.tagName + '.' + el.className;
  if (!seen.has(pair)) { seen.add(pair); out.pairs.push(pair); }
}
return JSON.stringify(out);
"""


def _luminance(rgb: str) -> float:
    parts = [float(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    lin = [(c / 255) / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
           for c in parts]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two CSS ``rgb(...)`` colours."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_contrast_formula() -> None:
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert contrast("rgb(119, 119, 119)", "rgb(255, 255, 255)") < 4.5  # #777 on white fails


def _check_a11y(driver: object, page: str) -> None:
    doc = json.loads(driver.execute_script(_A11Y_JS))  # type: ignore[attr-defined]
    assert doc["unlabelled"] == [], f"{page}: inputs without a label: {doc['unlabelled']}"
    assert doc["pairs"], page
    for pair in doc["pairs"]:
        fg, bgc, what = pair.split("|")
        if "rgba" in fg:  # a translucent colour is not one of the page's main colours
            continue
        assert contrast(fg, bgc) >= 4.5, f"{page}: {what} {fg} on {bgc} below 4.5:1"


def _see(driver: object, text: str, timeout: float = 10.0) -> None:
    """Wait until ``text`` is on the page (a click navigates asynchronously)."""
    assert wait_until(lambda: text in driver.page_source, timeout), text  # type: ignore[attr-defined]


def _login(driver: object, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/")  # type: ignore[attr-defined]
    assert "/login" in driver.current_url  # type: ignore[attr-defined]
    _check_a11y(driver, "login")
    _shot(driver, "login")
    driver.find_element(By.ID, "name").send_keys(USER)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys("wrong password")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # type: ignore[attr-defined]
    _see(driver, "wrong name or password")
    driver.find_element(By.ID, "name").send_keys(USER)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # type: ignore[attr-defined]
    _see(driver, "<h1>Passages</h1>")


def _add_entry(driver: object, base: str, plate: str, *, owner: str, note: str, since: str,
               until: str, camera: str, direction: str) -> None:
    """Fill the lists page's add form (every field of an entry) and submit it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(base + "/lists")  # type: ignore[attr-defined]
    _see(driver, "<h1>Allow and deny lists</h1>")
    find = driver.find_element  # type: ignore[attr-defined]
    for field, text in (("l-plate", plate), ("l-owner", owner), ("l-from", since),
                        ("l-until", until), ("l-note", note)):
        find(By.ID, field).send_keys(text)
    find(By.CSS_SELECTOR, f"input[name=cameras][value='{camera}']").click()
    Select(find(By.ID, "l-dir")).select_by_value(direction)
    find(By.CSS_SELECTOR, "form.filters button").click()


@pytest.mark.timeout(300)
def test_operator_page_in_chromium(tmp_path: Path, clips: ClipStore,
                                   ocr_emulator: EmulatorServer, browser: object) -> None:
    from selenium.webdriver.common.by import By

    clip, truth = clips.get("three_cars")  # the clip the end-to-end test reads reliably
    plate = truth["vehicles"][0]["plate"].replace("·", "")
    other = truth["vehicles"][1]["plate"].replace("·", "")
    with Mosquitto() as broker:
        sub = Subscriber(broker.port, ("gatecam/#",))
        assert sub.wait_connected()
        cfg = make_config(
            tmp_path, clip, ocr_emulator.url,
            cameras=[{"id": "entry-1", "url": str(clip), "loop": True},  # the clip's lane
                     {"id": "exit-1", "url": str(clip), "direction": "exit",
                      "enabled": False}],  # only named by a list entry's scope
            store={"url": f"sqlite:///{tmp_path}/g.db", "snapshots": str(tmp_path / "snap")},
            mqtt={"enabled": True, "port": broker.port, "gate_command": True},
            ocr={"timeout_s": 15.0},  # RapidOCR on a shared 2-core box takes 2-4 s a read
            # Every loop of the 23-s clip is new passages: on a slow host the first car can be
            # read before its allow entry is added, and the dedup window (30 s from its
            # departure) would swallow its next loop too.
            passage={"dedup_window_s": 0},
            web={"enabled": True, "port": 0,
                 "users": [{"name": USER, "password_hash": _HASH}]},
        )
        app = App(cfg, Secrets(E2E_SECRET_ID, E2E_SECRET_KEY, None))
        app.start()
        try:
            assert app.web_server is not None
            base = app.web_server.url.rstrip("/")
            _login(browser, base)
            # Allow entries added on the page, with a validity window and a camera scope:
            # the first car's holds (entry-1, today inside the window), the second car's
            # is for another camera only, so its passage stays unknown and says why.
            today = datetime.now().astimezone().date()
            _add_entry(browser, base, plate, owner="Flat 12", note="monthly permit",
                       since=str(today - timedelta(days=1)),
                       until=str(today + timedelta(days=30)), camera="entry-1",
                       direction="entry")
            _see(browser, "monthly permit")
            row = browser.find_element(By.XPATH, f"//tr[td[text()='{plate}']]").text  # type: ignore[attr-defined]
            assert "Flat 12" in row and "entry-1, entry only" in row and "holds" in row, row
            _add_entry(browser, base, other, owner="visitors", note="exit lane pass",
                       since="", until=str(today + timedelta(days=1)), camera="exit-1",
                       direction="any")
            _see(browser, "exit lane pass")
            _check_a11y(browser, "lists")
            _shot(browser, "lists")
            edit = f"a[aria-label='edit {other} on the allow list']"
            browser.find_element(By.CSS_SELECTOR, edit).click()  # type: ignore[attr-defined]
            _see(browser, f"Edit {other} on the allow list")
            assert browser.find_element(By.CSS_SELECTOR, "input[value='exit-1']").is_selected()  # type: ignore[attr-defined]
            _check_a11y(browser, "list_edit")
            _shot(browser, "list_edit")
            browser.find_element(By.ID, "l-owner").send_keys(" (December)")  # type: ignore[attr-defined]
            browser.find_element(By.CSS_SELECTOR, "form.filters button").click()  # type: ignore[attr-defined]
            _see(browser, "visitors (December)")
            browser.get(base + "/")  # type: ignore[attr-defined]
            browser.execute_script("window.stillHere = 42")  # type: ignore[attr-defined]
            before = app.passages
            # A passage committed after the page loaded shows up through the poll alone.
            assert wait_until(lambda: app.passages > before, 60), "no passage from the clip"
            newest = app.stages().store.recent_passage_objects(1)[0]  # type: ignore[union-attr]
            assert wait_until(lambda: newest.event_id in browser.page_source, 15)  # type: ignore[attr-defined]
            assert browser.execute_script("return window.stillHere") == 42  # type: ignore[attr-defined]
            store = app.stages().store
            assert store is not None
            assert wait_until(lambda: any(
                p.plate == plate and p.access == "allow"
                for p in store.recent_passage_objects(5)), 90), [
                (p.plate, p.access, p.ocr_calls,
                 [(r.error_code, r.latency_ms) for r in store.reads_for(p.event_id)])
                for p in store.recent_passage_objects(5)]

            assert wait_until(lambda: any(
                p.plate == other and p.access_reason == "allow_other_camera"
                for p in store.recent_passage_objects(5)), 90), [
                (p.plate, p.access, p.access_reason) for p in store.recent_passage_objects(5)]

            browser.get(base + "/")  # type: ignore[attr-defined]
            _see(browser, "allow_list")  # the honoured passage, as the page shows it
            _see(browser, "allow_other_camera")  # and the one outside its entry's scope
            _check_a11y(browser, "passages")
            _shot(browser, "passages")

            browser.find_element(By.CSS_SELECTOR, "#rows a").click()  # type: ignore[attr-defined]
            _see(browser, "<h2>Reads</h2>")
            browser.find_element(By.ID, "c-plate").send_keys("京AF0238")  # type: ignore[attr-defined]
            browser.find_element(By.CSS_SELECTOR, "form.filters button").click()  # type: ignore[attr-defined]
            _see(browser, "<h2>Corrections</h2>")
            _see(browser, "by alice")
            _check_a11y(browser, "passage")
            _shot(browser, "passage")

            browser.get(base + "/health")  # type: ignore[attr-defined]
            assert "streaming" in browser.page_source and "connected" in browser.page_source  # type: ignore[attr-defined]
            _check_a11y(browser, "health")
            _shot(browser, "health")

            browser.get(base + "/gates")  # type: ignore[attr-defined]
            _check_a11y(browser, "gates")
            browser.find_element(By.ID, "reason-1").send_keys("intercom: ticket machine jammed")  # type: ignore[attr-defined]
            browser.find_element(By.CSS_SELECTOR, "form.stack button").click()  # type: ignore[attr-defined]
            _see(browser, "open command sent")
            _shot(browser, "gates")
            got = sub.wait_for("gatecam/lot-a/entry-1/gate", timeout=10)
            manual = [json.loads(m.payload) for m in got
                      if json.loads(m.payload)["event_id"].startswith("manual-")]
            assert manual and manual[0]["operator"] == USER
            assert manual[0]["reason"] == "intercom: ticket machine jammed"

            browser.get(base + "/audit")  # type: ignore[attr-defined]
            _see(browser, "<h1>Manual opens</h1>")
            row = browser.find_element(By.CSS_SELECTOR, "tbody tr").text  # type: ignore[attr-defined]
            assert USER in row and "ticket machine jammed" in row and "sent" in row
            _check_a11y(browser, "audit")
            _shot(browser, "audit")
        finally:
            sub.close()
            t0 = time.monotonic()
            app.stop()
            assert time.monotonic() - t0 < 25
