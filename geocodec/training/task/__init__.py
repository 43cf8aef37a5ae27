"""Task-driven finetuning (Valsesia & Bianchi 2025, §3.3, eq. 4): the joint codec, both decoders, a
land-cover classifier and γ (one per λ) finetuned together on rate + λ·CE.

``finetune_task`` runs it all (``geocodec finetune-task`` on the command line): labels
(``labels``), streamed Zarr data and folds (``data``), classifier (``classifier``), γ (``gamma``),
loss (``loss``), the trained systems (``systems``), the resumable loop (``finetune``), evaluation
through real bytes (``evaluate``, ``metrics``) and the report (``report``).
"""

from geocodec.training.task.finetune import TaskConfig
from geocodec.training.task.run import finetune_task

__all__ = ["TaskConfig", "finetune_task"]
