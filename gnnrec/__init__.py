"""gnnrec: cross-category recommendation with graph neural networks.

The package follows the flow of one run: ``data`` (raw log → Dataset → Split),
``graph`` (train-only user–item–category graph), ``models``, ``losses`` and
``sampling`` (training components), ``train`` (the loop), ``evaluation``
(full-ranking engine and pure metric functions), ``logging`` (results files,
W&B) and ``cli`` (Hydra entry points, the only place that knows Hydra).
"""

__version__ = "0.1.0"
