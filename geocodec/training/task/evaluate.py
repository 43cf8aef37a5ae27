"""Each method on held-out samples, through real bytes: rate, per-modality PSNR, classifier scores.

The joint codecs run the product path (``geocodec.compress`` / ``decompress``: whole chunk, header
included); independent coding runs ``evaluation.baselines.independent.code_single`` (both rANS
payloads plus one geocodec chunk header, as ``geocodec evaluate`` counts it). The classifier sees
the decoded arrays normalised as it saw the uncompressed ones (``data.classifier_input``).
"""

from __future__ import annotations

import numpy as np
import torch

from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr
from geocodec.training.task.data import LabelledPairs, classifier_input
from geocodec.training.task.labels import MULTI

def raw_bpp(data: LabelledPairs) -> float:
    """Bits per pixel location of the uncompressed pairs (e.g. 4 × uint16 optical + 2 × float32 SAR, / 2)."""
    o, s = data.optical[0], data.sar[0]
    return 8.0 * (o.dtype.itemsize * o.shape[0] + s.dtype.itemsize * s.shape[0]) / 2


@torch.no_grad()
def scores_of(classifier, optical, sar, kind: str) -> np.ndarray:
    dev = next(classifier.parameters()).device
    logits = classifier(torch.from_numpy(classifier_input(optical, sar)).to(dev)).float()[0]
    return (torch.sigmoid(logits) if kind == MULTI else torch.softmax(logits, 0)).cpu().numpy()


def _record(optical, sar, opt_hat, sar_hat, bpp, scores) -> dict:
    valid = np.asarray(optical) != 0 if np.asarray(optical).dtype.kind in "ui" else None
    return {"bpp": bpp, "psnr_optical": psnr(optical, opt_hat, PEAK_OPTICAL, valid),
            "psnr_sar": psnr(sar, sar_hat, PEAK_SAR_DB), "scores": scores.tolist()}


def evaluate_uncompressed(classifier, data: LabelledPairs) -> list[dict]:
    kind, bpp = data.labels.kind, raw_bpp(data)
    return [{"bpp": bpp, "psnr_optical": None, "psnr_sar": None,
             "scores": scores_of(classifier, data.optical[i], data.sar[i], kind).tolist()} for i in range(len(data))]


def evaluate_joint(model, classifier, data: LabelledPairs, lmbda: float, gamma) -> list[dict]:
    """``model``: a ``GeocodecModel``; ``gamma``: a number or ``"learned"``. Records carry the γ used."""
    from geocodec import compress, decompress, inspect

    out = []
    for i in range(len(data)):
        o, s = data.optical[i], data.sar[i]
        chunk = compress(o, s, lmbda=lmbda, gamma=gamma, model=model, optical_nodata=_nodata(o))
        o_hat, s_hat = decompress(chunk, model=model)
        h, w = o.shape[-2:]
        rec = _record(o, s, o_hat, s_hat, 8 * len(chunk) / (2 * h * w),
                      scores_of(classifier, o_hat, s_hat, data.labels.kind))
        rec["gamma"] = inspect(chunk)["gamma"]
        out.append(rec)
    return out


def _nodata(optical):
    return 0 if np.asarray(optical).dtype.kind in "ui" and (np.asarray(optical) == 0).any() else None


def evaluate_independent(opt_model, sar_model, classifier, data: LabelledPairs, lmbda: float,
                         header_bytes: int) -> list[dict]:
    from geocodec.evaluation.baselines.independent import code_single

    out = []
    for i in range(len(data)):
        o, s = data.optical[i], data.sar[i]
        o_in = o.astype(np.float32)
        if o.dtype.kind in "ui":
            o_in[o == 0] = np.nan
        co, cs = code_single(opt_model, o_in, lmbda), code_single(sar_model, s, lmbda)
        o_hat = np.nan_to_num(co.decoded).astype(o.dtype) if o.dtype.kind in "ui" else co.decoded
        h, w = o.shape[-2:]
        bpp = 8 * (co.payload_bytes + cs.payload_bytes + header_bytes) / (2 * h * w)
        out.append(_record(o, s, o_hat, cs.decoded, bpp, scores_of(classifier, o_hat, cs.decoded,
                                                                     data.labels.kind)))
    return out


def header_bytes(model, data: LabelledPairs, lmbda: float) -> int:
    """A geocodec chunk's bytes outside its two rANS substreams (what independent coding also needs)."""
    from geocodec import bitstream, compress

    o, s = data.optical[0], data.sar[0]
    chunk = compress(o, s, lmbda=lmbda, model=model, optical_nodata=_nodata(o))
    c = bitstream.unpack(chunk)
    return len(chunk) - len(c.z) - len(c.y)
