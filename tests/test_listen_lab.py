"""``bench listen serve``: a lab listening test, end to end in headless Chromium, then analysed.

The real command runs in a subprocess on a free port.  Two listeners (two Chromium
instances driven by Selenium) open HITs at the same time; the first submits, the
server is killed with SIGKILL and started again on the same port, and the second then
submits the page it opened before the kill.  Both take a second HIT at once, and are
told when nothing is left.  ``bench listen analyze`` then reads the lab's CSV
unchanged: every assignment is there, under the right listener, with that listener's
answers, and the stored preferences equal those computed here from the answers given.

Without a browser, :class:`~bench.listen.lab_batch.LabBatch` is checked for what a
browser cannot show: a journal line torn by a kill, concurrent allocations, and
submissions it must refuse.
"""

from __future__ import annotations

import csv
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from test_listen_support import export_batch, make_store, play_every_clip

from bench.errors import BenchError
from bench.listen.lab_batch import LabBatch, LabError
from bench.listen.screening import token_of
from bench.store import Store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SERVE = "import sys; from bench.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """An NABX export: 2 HITs of 2 test items + the gold pair, 2 listeners per HIT, at most 2 HITs each."""
    tmp = tmp_path_factory.mktemp("listen-lab")
    results = make_store(tmp, seconds=0.4)
    out = export_batch(results, tmp / "abx", "nabx", base_url="http://localhost:8080/audio/", samples=4,
                       items_per_hit=2, assignments=2, max_hits_per_worker=2).out
    return tmp, results, out


class Server:
    """``bench listen serve`` in a subprocess; a thread reads its output lines."""

    def __init__(self, folder: Path, port: int = 0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVE, "listen", "serve", str(folder), "--port", str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(ln.strip()) for ln in self.proc.stdout], daemon=True).start()
        line = self._line(60)
        assert line.startswith("serving NABX from"), line
        self.url = line.split(" at ")[1].split()[0].rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])
        self.results = Path(self._line(10).split("answers: ")[1].split(" (")[0])

    def _line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("bench listen serve did not start") from None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1000,1200", "--autoplay-policy=no-user-gesture-required",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


class Listener:
    """One simulated listener: ``style`` "clean" always picks the clean clip, "np" always says no preference."""

    def __init__(self, name: str, style: str, profile: Path, key: dict[str, dict[str, str]]) -> None:
        self.name, self.style, self.key = name, style, key
        self.driver = _driver(profile)
        self.votes: list[int] = []
        self.assignments: list[str] = []

    def start(self, base: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(f"{base}/")
        self.driver.find_element(By.ID, "worker").send_keys(self.name)
        self.driver.find_element(By.ID, "start").click()
        self._opened()

    def take_next(self) -> bool:
        """Follow the thank-you page's link; False when the server says nothing is left."""
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, "next").click()
        self._wait_for("finished", "lt-form")
        if self.driver.find_elements(By.ID, "finished"):
            return False
        self._opened()
        return True

    def _wait_for(self, *element_ids: str) -> None:
        """Wait until the page a click navigated to shows one of these elements.

        A click that submits a form returns before the browser has loaded the next page, so looking at once can
        see the old page, or none (this raced on a loaded CI machine).
        """
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            WebDriverWait(self.driver, 20).until(
                lambda drv: any(drv.find_elements(By.ID, element_id) for element_id in element_ids))
        except TimeoutException:
            pytest.fail(f"none of {element_ids} appeared; page: {self.driver.page_source[:500]}")

    def _opened(self) -> None:
        self._wait_for("lt-form")
        self.assignments.append(self.driver.execute_script(
            "return new URLSearchParams(location.search).get('assignmentId')"))

    @property
    def hit_ref(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.NAME, "hit_ref").get_attribute("value")

    def answer_and_submit(self) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        d = self.driver
        d.find_element(By.CSS_SELECTOR, "input[name='native_english'][value='yes']").click()
        slots = len(d.find_elements(By.CSS_SELECTOR, "fieldset.lt-item"))
        for slot in range(1, slots + 1):
            a, b = (self.key[token_of(d.find_element(By.CSS_SELECTOR, f"audio[data-field='{f}{slot}']")
                                      .get_attribute("src"))] for f in ("a", "b"))
            if a["role"] != "stimulus":
                choice = "A" if a["role"] == "gold_natural" else "B"
            elif self.style == "np":
                choice = "NP"
                self.votes.append(0)
            else:
                choice = "A" if a["system"] == "clean" else "B"
                self.votes.append(1)
            d.find_element(By.CSS_SELECTOR, f"input[name='q{slot}'][value='{choice}']").click()
        play_every_clip(d)
        d.find_element(By.ID, "lt-submit").click()
        WebDriverWait(d, 10).until(lambda drv: drv.find_elements(By.ID, "done"))

    def quit(self) -> None:
        self.driver.quit()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.browser
@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="needs Debian chromium and chromium-driver")
def test_two_listeners_a_killed_server_and_the_analysis(lab, tmp_path: Path, capsys):
    pytest.importorskip("selenium", reason="selenium is not installed")
    from bench.cli import main

    _, results, out = lab
    with open(out / "secret" / "SECRET_key.csv", newline="", encoding="utf-8") as f:
        key = {r["token"]: r for r in csv.DictReader(f)}
    server = Server(out)
    one = two = None
    try:
        # nothing but the page, the listed clips and the submit endpoint is served
        for path in ("/secret/SECRET_key.csv", "/SECRET_key.csv", "/SECRET_export.json", "/hits.csv", "/hit.html",
                     "/public/hits.csv", "/lab/journal.jsonl", "/audio/../secret/SECRET_key.csv",
                     "/audio/../SECRET_key.csv", "/audio/%2e%2e%2fSECRET_key.csv", f"/lab/{server.results.name}"):
            assert _status(server.url + path) == 404, path

        one = Listener("L1", "clean", tmp_path / "p1", key)
        two = Listener("L2", "np", tmp_path / "p2", key)
        one.start(server.url)
        two.start(server.url)  # at the same time: each gets their own assignment, on the emptier HIT
        assert one.assignments[0] != two.assignments[0] and {one.hit_ref, two.hit_ref} == {"h001", "h002"}
        one.answer_and_submit()
        assert len(_rows(server.results)) == 1

        server.kill()  # SIGKILL: no chance to flush anything more
        server = Server(out, server.port)
        assert len(_rows(server.results)) == 1
        two.answer_and_submit()  # the page it opened before the kill submits to the new server

        # second HITs, opened together; each listener gets the HIT they have not done
        assert one.take_next() and two.take_next()
        assert {one.hit_ref, two.hit_ref} == {"h001", "h002"}
        two.answer_and_submit()
        one.answer_and_submit()
        assert not one.take_next() and not two.take_next()  # two HITs each: their limit, and the batch is done
    finally:
        for listener in (one, two):
            if listener is not None:
                listener.quit()
        server.stop()

    rows = _rows(server.results)
    assert len(rows) == 4
    by_worker = {w: [r for r in rows if r["WorkerId"] == w] for w in ("L1", "L2")}
    assert [r["AssignmentId"] for r in by_worker["L1"]] == one.assignments[:2]
    assert [r["AssignmentId"] for r in by_worker["L2"]] == two.assignments[:2]
    for r in by_worker["L2"]:  # L2 said "no preference" to every test item: none of L1's answers are in its rows
        tests = [r[f"Answer.q{s}"] for s in (1, 2, 3) if key[token_of(r[f"Input.a{s}"])]["role"] == "stimulus"]
        assert tests == ["NP", "NP"]
    assert all(r["AssignmentStatus"] == "Submitted" and int(r["WorkTimeInSeconds"]) >= 0 for r in rows)

    # the simulated listeners play clips at 4x speed, so their work takes a quarter of the audio's length
    assert main(["listen", "analyze", "--results", str(server.results), "--key", str(out / "secret" / "SECRET_key.csv"),
                 "--store", str(results), "--min-time-factor", "0.25"]) == 0
    console = capsys.readouterr().out
    assert "4 assignments: 4 used (2 listeners), 0 to reject" in console
    v = np.array(one.votes + two.votes, dtype=float)
    store = Store(results)
    table = store.listening_results()
    store.close()
    row = table[table["batch"] == server.results.name.split("_batch_results")[0]].iloc[0]
    assert (row["system"], row["other"], row["n"], row["n_workers"]) == ("clean", "mixture", 8, 2)
    assert row["pref_system"] == pytest.approx(50.0) and row["pref_np"] == pytest.approx(50.0)
    assert row["p_ttest"] == pytest.approx(sps.ttest_1samp(v, 0.0).pvalue)
    assert row["p_sign"] == pytest.approx(sps.binomtest(4, 4, 0.5).pvalue)


def test_lab_batch_journal_concurrency_and_refusals(lab, tmp_path: Path):
    _, _, out = lab
    folder = tmp_path / "copy"
    shutil.copytree(out, folder, ignore=shutil.ignore_patterns("lab"))
    batch = LabBatch(folder)
    with pytest.raises(LabError, match="listener ID"):
        batch.next_for("../etc")

    # eight listeners asking at once: each HIT gets exactly its 2 assignments, never one listener twice
    got: dict[str, object] = {}
    threads = [threading.Thread(target=lambda w=w: got.__setitem__(w, batch.next_for(w)[0])) for w in "ABCDEFGH"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [a for a in got.values() if a is not None]
    assert len(taken) == 4 and sorted(a.hit for a in taken) == [0, 0, 1, 1]
    assert len({a.assignment_id for a in taken}) == 4

    first = taken[0]
    assert batch.next_for(first.worker_id)[0] is first  # reloading gives the same open assignment
    with pytest.raises(LabError, match="another HIT"):
        batch.submit(first.assignment_id, {"hit_ref": "h999", "q1": "A"})
    batch.submit(first.assignment_id, {"hit_ref": batch.hits[first.hit]["hit_ref"], "q1": "A", "comment": "é, \"x\"\n"})
    with pytest.raises(LabError, match="already submitted"):
        batch.submit(first.assignment_id, {"q1": "B"})
    with pytest.raises(LabError, match="unknown assignment"):
        batch.submit("LABNOPE", {"q1": "B"})

    # a kill mid-write leaves half a line: a restart drops it and appends after it cleanly
    with open(batch.journal_path, "a", encoding="utf-8") as f:
        f.write('{"event": "submit", "assignment_id": "LA')
    again = LabBatch(folder)
    (row,) = _rows(again.results_path)
    assert (row["WorkerId"], row["Answer.q1"], row["Answer.comment"]) == (first.worker_id, "A", "é, \"x\"\n")
    second = taken[1]
    again.submit(second.assignment_id, {"q1": "B"})
    assert [r["AssignmentId"] for r in _rows(LabBatch(folder).results_path)] == [first.assignment_id,
                                                                                  second.assignment_id]

    (folder / "secret" / "SECRET_export.json").unlink()
    with pytest.raises(BenchError, match="no secret/SECRET_export.json"):
        LabBatch(folder)
