"""Rate–distortion evaluation of geocodec models: runs, metrics, plots, reports, validation datasets, baselines.

Research tooling around the codec, not part of it: the codec never imports this package
(``geocodec.metrics`` re-exports ``metrics`` for the writer's quality record).
``run_evaluation(EvalConfig(...))`` is what ``geocodec evaluate`` runs.
"""

from geocodec.evaluation.run import EvalConfig, run_evaluation

__all__ = ["EvalConfig", "run_evaluation"]
