"""jsac-bench: evaluation harness for joint separation-and-compression (JSAC) systems.

Data flows Dataset -> Runner -> Store -> Metrics -> Store -> Report; each arrow is
one module (``bench.data``, ``bench.run.runner``, ``bench.store``, ``bench.metrics``,
``bench.report``).  Systems and metrics are plugins found through ``bench.registry``.
"""

__version__ = "0.1.0"
