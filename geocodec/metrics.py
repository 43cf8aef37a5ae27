"""Re-export of ``geocodec.evaluation.metrics`` for the modules that import it here (the writer's quality record)."""

from geocodec.evaluation.metrics import (  # noqa: F401
    MS_SSIM_WEIGHTS, PEAK_OPTICAL, PEAK_SAR_DB, SAR_DB_MAX, SAR_DB_MIN, bd_rate, ms_ssim, ms_ssim_scales, mse,
    pareto_envelope, psnr, rate_at_quality)
