"""The exported HIT page in a real browser: Debian's headless Chromium driven by Selenium.

One ``hits.csv`` row is substituted into ``hit.html`` the way AMT does; a loopback
HTTP server (a thread) serves the page and the blinded audio and plays AMT's
``/mturk/externalSubmit`` endpoint.  The page runs exactly as exported: AMT's Crowd
HTML Elements script cannot load (every host but 127.0.0.1 is unresolvable), so the
page's own fallback turns ``<crowd-form>`` into a plain form that posts to
``turkSubmitTo`` from the page URL.  The test plays every clip for real (at 4x
speed), checks that submitting is refused before that, answers every item (gold
items correctly, from the key), submits, checks the posted fields, and runs them
through the analysis' screening as an AMT results row.  A screenshot goes to
``tests/artifacts/hit_page.png`` (``$LISTEN_ARTIFACTS`` overrides the folder).

A second, short test covers the path taken on AMT itself, with ``<crowd-form>``
defined: there the script URL is pointed at a local one-line stand-in, and the
test checks that the page cancels crowd-form's submit event until it is complete.
"""

from __future__ import annotations

import csv
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from test_listen_support import export_batch, make_store, play_every_clip

from bench.listen.amt_csv import Assignment
from bench.listen.design import get_test
from bench.listen.hit_page import fill
from bench.listen.hits import GOLD_NATURAL
from bench.listen.screening import Rules, screen, token_of

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("LISTEN_ARTIFACTS", Path(__file__).parent / "artifacts"))

selenium = pytest.importorskip("selenium", reason="selenium is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                       reason="needs Debian chromium and chromium-driver"),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.page = ""
        self.posts: list[dict[str, list[str]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, directory=str(args[2].root), **kwargs)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/hit.html":
            body = self.server.page.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        fields = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
        self.server.posts.append({"path": [self.path], **fields})
        body = b"<html><body><p id='done'>submitted</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Batch:
    server: _Server
    base: str
    out: Path
    row: dict[str, str]
    key: dict[str, dict[str, str]]
    page: str


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A one-HIT SABX export (3 test items + the gold pair) served from a loopback thread."""
    tmp = tmp_path_factory.mktemp("listen-browser")
    srv = _Server(tmp / "batch" / "public")  # the web host gets the public part only
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    out = tmp / "batch"
    export_batch(make_store(tmp, seconds=0.4), out, "sabx", base_url=f"{base}/audio/", samples=3, items_per_hit=3)
    with open(out / "public" / "hits.csv", newline="") as f:
        row = next(csv.DictReader(f))
    with open(out / "secret" / "SECRET_key.csv", newline="") as f:
        key = {r["token"]: r for r in csv.DictReader(f)}
    yield Batch(srv, base, out, row, key, fill((out / "public" / "hit.html").read_text(), row))
    srv.shutdown()
    srv.server_close()


def _driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1000,1200",
                 "--autoplay-policy=no-user-gesture-required",
                 # offline by construction: AMT's CDN fails at once instead of waiting for DNS
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def _answers(row: dict[str, str], key: dict[str, dict[str, str]], slots: int) -> dict[str, str]:
    """Gold items right (the natural side), test items alternating A / B / no preference."""
    answers = {}
    for slot in range(1, slots + 1):
        a, b = key[token_of(row[f"a{slot}"])], key[token_of(row[f"b{slot}"])]
        if GOLD_NATURAL in (a["role"], b["role"]):
            answers[f"q{slot}"] = "A" if a["role"] == GOLD_NATURAL else "B"
        else:
            answers[f"q{slot}"] = ("A", "B", "NP")[slot % 3]
    return answers


def test_hit_page_in_chromium(tmp_path: Path, batch: Batch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, base, row, key = batch.server, batch.base, batch.row, batch.key
    server.page = batch.page
    server.posts.clear()
    slots = 4  # 3 test items + 1 gold pair
    clips = 3 * slots  # X, A, B each

    driver = _driver(tmp_path / "profile")
    try:
        driver.set_page_load_timeout(20)
        driver.get(f"{base}/hit.html?assignmentId=ASSIGN1&hitId=HIT1&workerId=W1&turkSubmitTo={base}")
        # the crowd-form script could not load: the page switched to its plain-form fallback
        assert driver.execute_script("return !!window.customElements.get('crowd-form')") is False
        form = driver.find_element(By.ID, "lt-form")
        assert form.get_attribute("action") == f"{base}/mturk/externalSubmit"
        assert len(driver.find_elements(By.CSS_SELECTOR, "audio[data-field]")) == clips

        submit = driver.find_element(By.ID, "lt-submit")
        submit.click()
        status = driver.find_element(By.ID, "lt-status")
        assert "Play to the end" in status.text and "Answer:" in status.text
        answers = _answers(row, key, slots)
        driver.find_element(By.CSS_SELECTOR, "input[name='native_english'][value='yes']").click()
        for name, value in answers.items():
            driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").click()
        submit.click()
        assert "Play to the end" in status.text and "Answer:" not in status.text
        assert not server.posts, "the page submitted before every clip was played"

        # play every clip for real, one after the other (the page stops the previous one)
        play_every_clip(driver)

        assert status.text == "All done: you can submit."

        # the whole page, top to bottom, as the listener sees it just before submitting
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1000, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(ARTIFACTS / "hit_page.png"))

        driver.find_element(By.ID, "lt-submit").click()
        WebDriverWait(driver, 10).until(lambda d: server.posts)
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "done"))
    finally:
        driver.quit()

    posted = {k: v[0] for k, v in server.posts[0].items()}
    assert posted["path"] == "/mturk/externalSubmit"
    assert posted["assignmentId"] == "ASSIGN1"
    assert posted["native_english"] == "yes" and posted["page_version"] == "jsac-listen-1"
    assert posted["hit_ref"] == row["hit_ref"] == "h001"
    assert int(posted["elapsed_s"]) >= 0
    for name, value in answers.items():
        assert posted[name] == value
    for slot in range(1, slots + 1):
        for fld in ("x", "a", "b"):
            assert posted[f"ended_{fld}{slot}"] == "1" and int(posted[f"plays_{fld}{slot}"]) >= 1
    # nothing else is submitted: answers, play counters, assignmentId and the four page fields (+ path here)
    assert len(posted) == slots + 2 * clips + 6

    # the submission, as AMT would report it, passes screening
    assignment = Assignment(2, "HIT1", "ASSIGN1", "W1", "Submitted", 300.0, None, dict(row),
                            {k: v for k, v in posted.items() if k not in ("path", "assignmentId")})
    (screened,) = screen([assignment], get_test("sabx"), key, Rules())
    assert screened.reject == [] and screened.exclude == [], (screened.reject, screened.exclude)


CROWD_STUB = """
// test stand-in for AMT's crowd-html-elements.js: only defines <crowd-form>
customElements.define("crowd-form", class extends HTMLElement {});
"""


def test_crowd_form_path_blocks_an_incomplete_submit(tmp_path: Path, batch: Batch):
    """With <crowd-form> defined (a local stub in place of AMT's script), the page keeps <crowd-form>,
    hides its own button and cancels crowd-form's submit event until everything is played and answered."""
    from selenium.webdriver.common.by import By

    stub = batch.out / "public" / "crowd-stub.js"
    stub.write_text(CROWD_STUB)
    batch.server.page = batch.page.replace("https://assets.crowd.aws/crowd-html-elements.js", "/crowd-stub.js")
    submit = ("return document.querySelector('crowd-form')"
              ".dispatchEvent(new Event('submit', {cancelable: true}));")
    driver = _driver(tmp_path / "profile")
    try:
        driver.get(f"{batch.base}/hit.html?assignmentId=ASSIGN2")
        assert driver.execute_script("return !!window.customElements.get('crowd-form')") is True
        assert driver.find_elements(By.ID, "lt-form") == []
        assert not driver.find_element(By.ID, "lt-submit").is_displayed()
        assert driver.execute_script(submit) is False  # cancelled: nothing played or answered
        assert "Play to the end" in driver.find_element(By.ID, "lt-status").text
        driver.find_element(By.CSS_SELECTOR, "input[name='native_english'][value='no']").click()
        for name, value in _answers(batch.row, batch.key, 4).items():
            driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").click()
        # simulated playback this time: every clip reports that it ended
        driver.execute_script("document.querySelectorAll('audio').forEach(function (a) {"
                              " a.dispatchEvent(new Event('ended')); });")
        assert driver.find_element(By.ID, "lt-status").text == "All done: you can submit."
        assert driver.execute_script(submit) is True
        assert driver.find_element(By.NAME, "elapsed_s").get_attribute("value") != ""
    finally:
        driver.quit()
