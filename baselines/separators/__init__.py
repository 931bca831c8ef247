"""Speech separators used by the baselines (the Sepformer upper bound, FCTS and FSTC).

Separators are stored in speechbrain's pretrained-model format (``hyperparams.yaml``
plus one ``<module>.ckpt`` per module), so the project's own tiny model and public
ones such as ``speechbrain/sepformer-libri2mix`` load through the same code path.
"""
