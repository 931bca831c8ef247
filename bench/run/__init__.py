"""The run machinery, in the order the data flows through it.

``Dataset`` -> :mod:`~bench.run.separation` (systems' estimates, the speaker
:mod:`~bench.run.assignment`) -> :mod:`bench.store` -> :mod:`~bench.run.scoring`
(metrics) -> :mod:`bench.store` -> :mod:`bench.report`.  :mod:`~bench.run.runner`
orchestrates ``bench run``/``bench score``; :mod:`~bench.run.executors` decides where
tasks run (this process, a process pool, Ray); :mod:`~bench.run.sharding` and
:mod:`~bench.run.merge` split a run over machines and join the results;
:mod:`~bench.run.estimate_check` keeps the estimate cache honest;
:mod:`~bench.run.manifest` records what a run was asked to do.
"""
