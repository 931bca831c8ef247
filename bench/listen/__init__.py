"""Listening tests: blinded Amazon Mechanical Turk (or lab) batches and the analysis of their results.

``bench listen export`` turns stored estimates into an upload-ready folder (blinded,
loudness-normalised audio, an AMT batch-input CSV, the HIT page and a secret key);
``bench listen serve`` runs that folder in a lab on this machine, writing answers in
AMT's results format; ``bench listen analyze`` screens the results P.808-style
(per worker by default), computes MOS with confidence intervals or ABX preferences
with exact p-values, writes AMT's review upload and stores the numbers in the results
database (:meth:`bench.store.Store.save_listening_results`; reports read them with
:meth:`~bench.store.Store.listening_results`).

Modules, one job each: ``design`` (the four tests), ``names`` (file names of an
export), ``clips`` (audio from the store), ``sampling``, ``blinding``, ``loudness``,
``anchors``, ``hits`` (HIT composition), ``hit_page`` (+ ``hit_template.html``),
``export``, ``lab_batch`` (lab assignments and answers on disk), ``lab`` (its web
server), ``amt_csv``, ``items`` (an assignment's answered items), ``screening``,
``consistency`` (the per-worker all-same-answer rule), ``review`` (review upload and
summary), ``stats``, ``analyze``, ``command`` (CLI).
"""
