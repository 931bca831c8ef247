"""Listening tests: blinded Amazon Mechanical Turk batches and the analysis of their results.

``bench listen export`` turns stored estimates into an upload-ready folder (blinded,
loudness-normalised audio, an AMT batch-input CSV, the HIT page and a secret key);
``bench listen analyze`` screens the downloaded AMT results P.808-style, computes
MOS with confidence intervals or ABX preferences with p-values, writes the bulk
approve/reject file and stores the numbers in the results database
(:func:`bench.listen.storage.load_listening_results`).

Modules, one job each: ``design`` (the four tests), ``clips`` (audio from the store),
``sampling``, ``blinding``, ``loudness``, ``anchors``, ``hits`` (HIT composition),
``hit_page`` (+ ``hit_template.html``), ``export``, ``amt_csv``, ``screening``,
``stats``, ``storage``, ``analyze``, ``command`` (CLI).
"""
