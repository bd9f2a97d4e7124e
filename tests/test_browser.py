"""A marketer's five jobs, in a real headless Chromium on a real `earful serve`-style Datasette.

Starting from the home page as an anonymous visitor, each job takes at most two clicks of
navigation, at a laptop's width (1280 px) and a phone's (390 px), and checks what a person
would see: no sideways scrolling, the first mention's text on screen without scrolling past
column descriptions, the same count as the alert email.

Screenshots go to the test's temporary folder; `docs/screenshots.sh` (EARFUL_SCREENSHOTS=docs)
refreshes the README's docs/ui-*.png from them.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from earful import serve
from tests.conftest import ROOT
from tests.helpers import CHROMIUM_FLAGS, chromedriver, chromium
from tests.test_datasette import free_port
from tests.ui_data import COMPETITOR, build

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from datasette_auth_passwords.utils import hash_password

    tmp = tmp_path_factory.mktemp("ui")
    # The canned questions ask about "the last 24 hours / 7 days": the data ends now.
    config, db = build(tmp, dt.datetime.now(dt.UTC))
    port = free_port()
    env = {**os.environ, "DATASETTE_SECRET": "browser-test",
           "EARFUL_TEAM_PASSWORD_HASH": hash_password(PASSWORD)}
    proc = subprocess.Popen(serve.datasette_args(config.database, "127.0.0.1", port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{base}/-/versions.json", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield base, config, db
    proc.terminate()
    proc.wait(timeout=10)
    db.close()


class Browser:
    """A fresh, anonymous Chromium at one width, counting the clicks of each job."""

    def __init__(self, base: str, width: int, folder: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium()
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={folder / f'profile-{width}'}")
        options.add_argument(f"--window-size={width},900")
        self.driver = webdriver.Chrome(service=Service(chromedriver()), options=options)
        self.driver.set_window_size(width, 900)
        self.base, self.width, self.folder, self.clicks = base, width, folder, 0

    def home(self) -> None:
        self.driver.get(self.base + "/")
        self.clicks = 0

    def click(self, css: str, text: str | None = None) -> None:
        from selenium.webdriver.common.by import By

        found = [e for e in self.driver.find_elements(By.CSS_SELECTOR, css)
                 if text is None or text in e.text]
        assert found, f"nothing to click: {css} {text!r} on {self.driver.current_url}"
        self.driver.execute_script("arguments[0].click()", found[0])
        self.clicks += 1
        self.settle()

    def settle(self) -> None:
        for _ in range(100):
            if self.driver.execute_script("return document.readyState") == "complete":
                return
            time.sleep(0.05)

    def texts(self, css: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def js(self, script: str):
        return self.driver.execute_script(script)

    def check_layout(self, feed: bool = False) -> None:
        """No sideways scroll; on a list of mentions, the first text is on screen at once."""
        overflow = self.js("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow} px of sideways scroll at {self.width} px: " \
                              f"{self.driver.current_url}"
        if feed:
            top = self.js("var b = document.querySelector('.mention .mention-body');"
                          "return b ? b.getBoundingClientRect().top : null")
            assert top is not None, "no mention text on the page"
            assert 0 <= top < self.js("return window.innerHeight") - 40, \
                f"the first mention's text starts {top} px down at {self.width} px"

    def shot(self, name: str) -> Path:
        height = min(self.js("return document.documentElement.scrollHeight"), 2600)
        self.driver.set_window_size(self.width, max(height, 600))
        path = self.folder / f"ui-{name}-{self.width}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(self.width, 900)
        keep = os.environ.get("EARFUL_SCREENSHOTS")
        if keep:
            shutil.copy(path, ROOT / keep / path.name)
        return path


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda w: f"{w}px")
def browser(request, site, tmp_path_factory):
    b = Browser(site[0], request.param, tmp_path_factory.mktemp(f"chromium-{request.param}"))
    yield b
    b.driver.quit()


def test_home_page_offers_the_five_jobs(browser):
    browser.home()
    browser.check_layout()
    jobs = browser.texts(".earful-jobs a.job")
    assert jobs[:2] == ["What people complain about this week", "Spikes of negative mentions"]
    assert {"Mentions of the last 30 days", "Us and our competitors"} <= set(jobs)
    assert browser.js("return document.querySelector('form.earful-search input[name=q]') "
                      "!== null")
    browser.shot("home")


def test_1_what_people_complain_about_this_week(browser, site):
    _, _, db = site
    browser.home()
    browser.click(".earful-jobs a.job", "What people complain about")
    assert browser.clicks <= 2
    browser.check_layout()
    complaints = browser.texts("td.col-complaint")
    stored = [r[0] for r in db.execute(
        "SELECT term FROM complaint_terms WHERE brand = 'Larkspur' AND period = '7d' "
        "ORDER BY rank")]
    assert complaints[:5] == stored[:5]
    assert set(complaints[:10]) & {"refund", "charged", "twice", "charged twice"}
    # Said in words, with no SQL and no statistics jargon on the page.
    page = browser.js("return document.body.innerText")
    assert re.search(r"in \d+ of \d+ negative mentions \(\d+%\)", page)
    assert "select " not in page.lower() and "usual_out_of" not in page


def email_count(outbox: Path) -> tuple[int, str]:
    """The latest episode email's 'See all N negative mentions' and its link."""
    latest = sorted(outbox.glob("*.eml"))[-1]
    msg = email.message_from_bytes(latest.read_bytes(), policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content()
    found = re.search(r"See all (\d+) negative mentions: (\S+)", text)
    return int(found.group(1)), found.group(2)


def test_2_the_latest_episode_s_evidence_has_the_email_s_count(browser, site):
    base, config, _ = site
    count, link = email_count(Path(config.alerts["outbox"]))
    browser.home()
    browser.click(".earful-jobs a.job", "Spikes of negative mentions")
    browser.check_layout()
    # A source's own episode is told apart (on a phone the header is each cell's label).
    assert "series" in browser.js("return Array.from(document.querySelectorAll('th'))"
                                  ".map(function (th) { return th.textContent.trim(); })")
    browser.click("td.col-evidence a")  # the first row: the newest, brand-wide episode
    assert browser.clicks <= 2
    browser.check_layout(feed=True)
    summary = browser.texts(".earful-summary strong")
    assert summary == [str(count)], (summary, count)
    assert len(browser.texts(".earful-feed .mention")) == count
    browser.shot("evidence")
    # The email's own link lands on the same page with the same number.
    browser.driver.get(link.replace(config.earful["datasette_url"], base))
    assert browser.texts(".earful-summary strong") == [str(count)]


def test_3_search_refund_and_read_the_texts(browser, site):
    _, _, db = site
    from selenium.webdriver.common.by import By

    browser.home()
    box = browser.driver.find_element(By.CSS_SELECTOR, "form.earful-search input[name=q]")
    box.send_keys("refund")
    browser.click("form.earful-search input[type=submit]")
    assert browser.clicks <= 2
    browser.check_layout(feed=True)
    texts = browser.texts(".earful-feed .mention")
    expected = db.execute("SELECT count(*) FROM mentions_fts WHERE mentions_fts MATCH "
                          "'\"refund\"'").fetchone()[0]
    assert len(texts) == min(expected, 100) and expected > 0
    assert all("refund" in t.lower() for t in texts)
    assert browser.texts(".earful-summary strong") == [str(expected)]
    browser.shot("search")


def test_4_sign_in_and_acknowledge_a_mention_with_an_owner(browser, site):
    _, _, db = site
    owner = f"dana-{browser.width}"
    browser.home()
    browser.click(".earful-jobs a.job", "Mentions of the last 30 days")
    browser.check_layout(feed=True)
    browser.click(".earful-feed .mention.sentiment-negative a", "open")  # the newest negative
    assert browser.clicks <= 2
    browser.check_layout()
    mention_url = browser.driver.current_url
    title = browser.texts(".mention .mention-body")[0]
    # Anonymous: no form, a way to sign in that comes back here.
    assert not browser.texts("form.triage")
    browser.click("p.signin a", "Sign in to triage")
    from selenium.webdriver.common.by import By

    browser.driver.find_element(By.ID, "id_username").send_keys("team")
    browser.driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.click("form.password-login input[type=submit]")
    assert browser.driver.current_url == mention_url
    browser.shot("mention")
    # Signed in: status is a choice, owner a field.
    from selenium.webdriver.support.select import Select

    Select(browser.driver.find_element(By.ID, "triage-status")).select_by_visible_text(
        "acknowledged")
    field = browser.driver.find_element(By.ID, "triage-owner")
    field.clear()
    field.send_keys(owner)
    browser.click("form.triage input[type=submit]")
    assert browser.driver.current_url == mention_url
    assert "Triage saved." in browser.js("return document.body.innerText")
    browser.check_layout()
    # In the list, the mention now says so.
    browser.home()
    browser.click(".earful-jobs a.job", "Mentions of the last 30 days")
    card = [t for t in browser.texts(".earful-feed .mention") if t.startswith(title[:40])
            or title[:40] in t]
    assert card and "acknowledged" in card[0] and f"owner {owner}" in card[0], card[:1]
    stored = db.execute("SELECT status, owner, updated_by FROM triage WHERE owner = ?",
                        [owner]).fetchone()
    assert stored == ("acknowledged", owner, "team")


def drawn(browser: Browser, *charts: str) -> None:
    """Wait for vega-embed to draw each chart (after its data arrives), then check it did."""
    # vega-embed draws on a canvas, or in SVG (which it picks for some specs).
    canvases = ", ".join(f"#chart-{c} canvas, #chart-{c} svg.marks" for c in charts)
    for _ in range(150):
        if browser.js(f"return document.querySelectorAll('{canvases}').length") == len(charts) \
                and browser.js("return document.querySelectorAll('.dashboard-card-chart "
                               "td').length") > 0:
            break
        time.sleep(0.1)
    for chart in charts:
        assert browser.js(f"return document.querySelector('#chart-{chart} canvas, "
                          f"#chart-{chart} svg.marks') !== null"), chart


def test_5_our_negative_share_against_a_competitor_s_over_30_days(browser, site):
    _, _, db = site
    browser.home()
    browser.click(".earful-jobs a.job", "Us and our competitors")
    assert browser.clicks <= 2
    assert "days=30" in browser.driver.current_url
    drawn(browser, "negative-share-by-brand", "share-of-voice")
    rows = browser.js(
        "return Array.from(document.querySelectorAll('#chart-competitor-summary tbody tr'))"
        ".map(function (tr) { return Array.from(tr.cells).map(function (td) {"
        " return td.innerText.trim(); }); })")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).strftime("%Y-%m-%d")
    # (SQLite rounds half away from zero, Python's round() to even: let SQLite round.)
    expected = {brand: f"{share}% ({neg} of {n})" for brand, n, neg, share in db.execute(
        "SELECT brand, sum(mentions), sum(negatives), round(100.0 * sum(negatives) / "
        "sum(mentions), 1) FROM daily_counts WHERE day >= ? GROUP BY brand", [since])}
    assert {r[0]: r[-1] for r in rows} == {"Larkspur (ours)": expected["Larkspur"],
                                           f"{COMPETITOR} (competitor)": expected[COMPETITOR]}
    browser.check_layout()
    browser.shot("competitors")


def test_the_dashboard_draws_its_charts_and_says_its_rules(browser):
    browser.home()
    browser.click(".earful-jobs a.job", "Charts of negative mentions")
    drawn(browser, "negatives-per-day", "negative-share", "negatives-per-hour", "ratings")
    titles = " ".join(browser.texts(".dashboard-card-title"))
    assert "only weeks with at least 30 mentions" in titles
    browser.check_layout()
    browser.shot("dashboard")

