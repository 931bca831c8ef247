"""``bench listen serve``: run an exported batch in a lab, on this machine, instead of on AMT.

A listener opens ``http://<host>:<port>/``, types their listener ID and gets the next
HIT they have not done, on the very page AMT would show (``hit.html`` filled from
``hits.csv``, AMT's script left out so the page posts its plain form here, as it does
offline).  Answers go to :class:`~bench.listen.lab_batch.LabBatch`, which writes them
in AMT's results format as they arrive; ``bench listen analyze`` reads that file
unchanged.

Routes (nothing else is served, so the secret key, the settings and the lab's own
files cannot be fetched whatever the URL):

* ``GET /``: the listener-ID form;  ``GET /next?worker=ID``: take the next HIT
  (redirects to it) or say why there is none;
* ``GET /hit?assignmentId=...``: the HIT page of an assignment;
* ``GET /audio/<token>.wav``: a clip named in ``hits.csv`` (Range requests answered,
  as browsers fetch audio in ranges);
* ``POST /mturk/externalSubmit``: the page's answers (AMT's classic protocol).

Web stack: Werkzeug (routing, form parsing with size limits, Range-aware file
responses) under Waitress, a production WSGI server (Pylons project).  The standard
library's ``http.server`` was not enough: its documentation rules it out for anything
but development, it has no request-size limits, and a listener's stalled connection
holds one of its threads; Waitress buffers each connection asynchronously before a
worker thread sees it and bounds request sizes.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect, send_file
from werkzeug.wrappers import Request, Response

from bench.errors import BenchError
from bench.listen.hit_page import CROWD_SCRIPT, fill, without_crowd_script
from bench.listen.items import token_of
from bench.listen.lab_batch import LabBatch, LabError
from bench.listen.names import AUDIO_DIR, HIT_REF, PAGE_NAME, key_path

MAX_BODY = 1 << 20  # a page submits a few kB
MAX_FIELDS = 2000
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_STYLE = ("body{font-family:Helvetica,Arial,sans-serif;max-width:640px;margin:40px auto;color:#1d2733}"
          "input,button{font-size:16px;padding:6px 10px}")


def _html(title: str, body: str, status: int = 200) -> Response:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(page, status=status, mimetype="text/html")


class LabApp:
    """The WSGI application over one export folder."""

    def __init__(self, batch: LabBatch) -> None:
        self.batch = batch
        if CROWD_SCRIPT not in batch.page:
            raise BenchError(f"{batch.public / PAGE_NAME}: not the page `bench listen export` writes")
        self.page = without_crowd_script(batch.page)
        audio = batch.public / AUDIO_DIR
        # only the clips the HITs name can be fetched
        self.clips = {token_of(url): audio / f"{token_of(url)}.wav"
                      for hit in batch.hits for name, url in hit.items() if name != HIT_REF and url}
        missing = [p.name for p in self.clips.values() if not p.is_file()]
        if missing:
            raise BenchError(f"{audio}: {len(missing)} clips named in hits.csv are missing (e.g. {missing[0]})")
        self.urls = Map([Rule("/", endpoint="home"), Rule("/next", endpoint="next"), Rule("/hit", endpoint="hit"),
                         Rule("/audio/<name>", endpoint="audio"),
                         Rule("/mturk/externalSubmit", endpoint="submit", methods=["POST"])])

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        request.max_form_parts = MAX_FIELDS
        try:
            endpoint, values = self.urls.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except LabError as exc:
            response = _html("Not possible", f"<p id='error'>{html.escape(str(exc))}.</p>"
                                             "<p><a href='/'>Start page</a></p>", status=400)
        except RequestEntityTooLarge:
            response = _html("Too large", "<p id='error'>The submission is too large.</p>", status=413)
        except HTTPException as exc:
            response = exc
        return response(environ, start_response)

    # -- pages -------------------------------------------------------------------------------
    def on_home(self, request: Request) -> Response:
        c = self.batch.counts()
        return _html(self.batch.design.title, f"""
<p>{html.escape(self.batch.design.instructions)}</p>
<p>{c['hits']} HITs; each is done by {c['per_hit']} listeners, and one listener does at most
{self.batch.max_hits_per_worker}. Type the listener ID you were given, then start.</p>
<form method="get" action="/next"><label>Listener ID <input id="worker" name="worker" required
 pattern="[A-Za-z0-9][A-Za-z0-9_.@-]{{0,63}}" autofocus></label> <button id="start" type="submit">Start</button></form>""")

    def on_next(self, request: Request) -> Response:
        worker = request.args.get("worker", "").strip()
        assignment, why = self.batch.next_for(worker)
        if assignment is None:
            return _html("Thank you", f"<p id='finished'>{html.escape(why)}.</p>")
        return redirect(f"/hit?assignmentId={assignment.assignment_id}&hitId={self.batch.hit_id(assignment.hit)}"
                        f"&workerId={quote(worker)}&turkSubmitTo=%2F", code=303)

    def on_hit(self, request: Request) -> Response:
        assignment = self.batch.get(request.args.get("assignmentId", ""))
        if assignment.submitted:
            return self._thanks(assignment.worker_id, "This HIT is already submitted.")
        row = {k: (f"/{AUDIO_DIR}/{token_of(v)}.wav" if k != HIT_REF else v)
               for k, v in self.batch.hits[assignment.hit].items()}
        response = Response(fill(self.page, row), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    def on_audio(self, request: Request, name: str) -> Response:
        stem, dot, ext = name.rpartition(".")
        if not dot or ext != "wav" or not _TOKEN.match(stem) or stem not in self.clips:
            raise NotFound()
        return send_file(self.clips[stem], request.environ, mimetype="audio/wav", conditional=True, max_age=3600)

    def on_submit(self, request: Request) -> Response:
        fields = {k: v for k, v in request.form.items()}
        assignment_id = fields.pop("assignmentId", "")
        assignment = self.batch.submit(assignment_id, fields)
        return self._thanks(assignment.worker_id, "Your answers are saved.")

    def _thanks(self, worker: str, message: str) -> Response:
        return _html("Thank you", f"<p id='done'>{html.escape(message)}</p>"
                                  f"<p><a id='next' href='/next?worker={quote(worker)}'>Next HIT</a></p>")


def serve(folder: Path, host: str = "127.0.0.1", port: int = 8080, threads: int = 8,
          announce: Callable[[str], None] | None = print) -> None:
    """Serve ``folder`` until interrupted (Ctrl-C)."""
    from waitress import create_server

    batch = LabBatch(folder)
    app = LabApp(batch)
    try:
        server = create_server(app, host=host, port=port, threads=threads, max_request_body_size=MAX_BODY,
                               ident="bench-listen")
    except OSError as exc:
        raise BenchError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if announce is not None:
        c = batch.counts()
        announce(f"serving {batch.design.label} from {Path(folder)} at "
                 f"http://{host if host != '0.0.0.0' else 'localhost'}:{server.effective_port}/ "
                 f"({c['hits']} HITs x {c['per_hit']} listeners, {c['submitted']} assignments submitted so far)")
        announce(f"answers: {batch.results_path} (AMT's results format; "
                 f"bench listen analyze --results {batch.results_path} --key {key_path(Path(folder))})")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
