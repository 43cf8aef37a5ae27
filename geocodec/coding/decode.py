"""Decoding: chunks → entropy-decoded latents (``DecodedLatent``) → one or both decoders → arrays.

Each chunk is decoded on its own (a batch of one), so a chunk decodes to the same bytes whatever
batch it arrives in; the model that wrote it is found (or checked) by the sha256 in its header.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

import numpy as np
import torch

from geocodec import bitstream
from geocodec.coding.prepare import Device, ModelSpec, f32
from geocodec.errors import CorruptStreamError, EntropyParameterMismatchError, InvalidInputError, ModelMismatchError
from geocodec.model.entropy import EntropyMismatch, LatentStreams, PayloadMismatch
from geocodec.model.latent_coding import NETS_BY_FORMAT
from geocodec.normalize import BandScaling, db_to_linear, invert_scaling
from geocodec.options import DEFAULT_BACKEND, MODALITIES, Backend, Modality
from geocodec.precision import resolve_backend
from geocodec.settings import check_backend
from geocodec.registry import GeocodecModel, find_model_for, load_model


def _model_for_chunk(c: bitstream.Chunk, model, device) -> GeocodecModel:
    if model is not None:
        m = load_model(model, device)
        if m.sha256 != c.model_sha256:
            raise ModelMismatchError(
                f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 {c.model_sha256[:16]}…), "
                f"not by the requested model {m.name!r} v{m.version} (sha256 {m.sha256[:16]}…)")
        return m
    m = find_model_for(c.model_name, c.model_sha256, device)
    if m is None:
        raise ModelMismatchError(
            f"chunk was written by model {c.model_name!r} v{c.model_version} (sha256 {c.model_sha256[:16]}…), "
            "which this installation does not have; pass model= the weights file that wrote it")
    return m


def restore(xn: np.ndarray, c: bitstream.Chunk, which: str) -> np.ndarray:
    """Normalised decoder output (C, height, width) of chunk ``c`` → values in its dtype, nodata/NaN restored."""
    if which == "optical":
        sc, dtype, nodata = c.scaling[:c.n_optical], c.optical_dtype, c.optical_nodata
    else:
        sc, dtype, nodata = c.scaling[c.n_optical:], c.sar_dtype, c.sar_nodata
    x = invert_scaling(xn, BandScaling(sc[:, 0], sc[:, 1], sc[:, 2], sc[:, 3]))
    if which == "sar" and c.sar_linear:
        x = db_to_linear(x)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        info = np.iinfo(dt)
        x = np.clip(np.rint(x, out=x), info.min, info.max, out=x)  # x is restore's own float64 array
    x = x.astype(dt)
    nodata_mask = c.masks.get(f"{which}_nodata")
    big_endian = c.optical_big_endian if which == "optical" else c.sar_big_endian
    nan_mask = c.masks.get(f"{which}_nan")
    if nodata is not None:
        # a valid sample must never read back as nodata
        clash = x == nodata
        if nodata_mask is not None:
            clash &= ~nodata_mask
        if clash.any():
            if dt.kind in "ui":
                bump = nodata + 1 if nodata < np.iinfo(dt).max else nodata - 1
            else:
                bump = np.nextafter(dt.type(nodata), dt.type(np.inf))
            x[clash] = bump
        if nodata_mask is not None:
            x[nodata_mask] = nodata
    if nan_mask is not None:
        x[nan_mask] = np.nan
    if big_endian != (sys.byteorder == "big"):
        x = x.astype(dt.newbyteorder(">" if big_endian else "<"))
    return x


@dataclass
class DecodedLatent:
    """One chunk after entropy decoding: its header and the dequantised latent ŷ (before the
    decoder's λ gain, which synthesis applies: ŷ itself is exact, the gain is float arithmetic).

    Entropy decoding (sequential rANS) is the costly, modality-independent half of decoding;
    keeping its result lets a reader synthesise optical and SAR from one decode.
    """

    chunk: bitstream.Chunk
    latent: torch.Tensor  # (M, h', w') float32 on the CPU: ŷ of the padded chunk
    model: GeocodecModel
    #: the entropy decoder's integers in decode order (``entropy_decode(keep_symbols=True)``)
    symbols: np.ndarray | None = None

    def symbols_sha256(self) -> str:
        """sha256 of the decoded symbols (little-endian int32): what a chunk pins on every machine."""
        if self.symbols is None:
            raise ValueError("decode with entropy_decode(..., keep_symbols=True) to keep the symbols")
        return hashlib.sha256(self.symbols.astype("<i4").tobytes()).hexdigest()

    @property
    def nbytes(self) -> int:
        masks = sum(m.size for m in self.chunk.masks.values())  # bool: 1 byte each
        return self.latent.numel() * self.latent.element_size() + masks + len(self.chunk.z) + len(self.chunk.y)


def _expected_checks(c: bitstream.Chunk, m: GeocodecModel) -> int:
    # format 1 chunks carry one check per coding stage; formats 2–3 add the 2 × u16 payload check
    return m.net.entropy.n_stages + (2 if c.format_version >= 2 else 0)


def _check_against_model(c: bitstream.Chunk, m: GeocodecModel) -> None:
    if c.n_optical != len(m.optical_bands) or c.n_sar != len(m.sar_bands) or len(c.checks) != _expected_checks(c, m):
        raise CorruptStreamError("chunk header does not match its model's band or stage counts")
    lo, hi = m.lmbda_range
    if not (f32(lo) * (1 - 1e-6) <= c.lmbda <= f32(hi) * (1 + 1e-6)):
        raise CorruptStreamError(f"chunk header has λ={c.lmbda:g}, outside its model's range [{lo}, {hi}]")


def entropy_decode(chunks, device="auto", model=None, keep_symbols: bool = False) -> list[DecodedLatent]:
    """Parse, verify and entropy-decode chunks (no synthesis).

    Each chunk is decoded on its own (batch of one, in input order), so its latent does not
    depend on which other chunks arrived with it: decoding is reproducible bit for bit.
    ``keep_symbols`` keeps the rANS output too (``DecodedLatent.symbols``), identical on every machine.
    """
    parsed = [bitstream.unpack(d) for d in chunks]
    models: dict[tuple, GeocodecModel] = {}
    results: list[DecodedLatent] = []
    for c in parsed:
        key = (c.model_sha256, c.model_name)
        if key not in models:
            models[key] = _model_for_chunk(c, model, device)
        m = models[key]
        _check_against_model(c, m)
        lam = torch.tensor([c.lmbda], dtype=torch.float32, device=m.device)
        symbols: list | None = [] if keep_symbols else None
        try:  # no model lock: coding only reads the model, so Dask threads decode in parallel
            y_hat = m.net.decompress_latent([LatentStreams(z=c.z, y=c.y, checks=c.checks)],
                                            m.net.latent_hw(c.height, c.width), lam, [c.header_crc], symbols,
                                            nets=NETS_BY_FORMAT[c.format_version])
        except EntropyMismatch as e:
            raise EntropyParameterMismatchError(
                f"cannot decode chunk safely: {e}. Either its payload is corrupt (restore it from a copy), "
                "or it was encoded on another kind of device (decode there, or re-encode)") from None
        except PayloadMismatch as e:
            raise CorruptStreamError(f"geocodec chunk payload is corrupt: {e}") from None
        results.append(DecodedLatent(chunk=c, latent=y_hat[0].cpu(), model=m, symbols=symbols[0] if symbols else None))
    return results


def _check_options(modality, backend) -> None:
    if modality not in MODALITIES:
        raise InvalidInputError(f"modality={modality!r}: use one of {MODALITIES}")
    check_backend(backend)


def run_decoder(model: GeocodecModel, y_hat: torch.Tensor, lmbda: float, which: str,
                backend: str = DEFAULT_BACKEND) -> np.ndarray:
    """ŷ (N, M, h, w) at rate ``lmbda`` → one modality's normalised bands (N, C, H, W) float32, by
    ``backend`` (``"auto"`` resolved for the model's device by ``geocodec.precision.resolve_backend``)."""
    backend = resolve_backend(backend, model.device)
    y_dec = model.net.decoder_input(y_hat.to(model.device), torch.tensor([lmbda], dtype=torch.float32))
    if backend == "torch":
        return model.net.synthesize(y_dec, which).float().cpu().numpy()
    if backend == "torch-bf16":
        from geocodec.model import bf16_backend

        return bf16_backend.synthesize(model, y_dec, which).cpu().numpy()
    from geocodec.model import onnx_backend

    return onnx_backend.synthesize(model, y_dec, which, backend)


def synthesize(latents: list[DecodedLatent], modality: str = "both", backend: Backend = DEFAULT_BACKEND) -> list:
    """Run only the requested decoder(s) on entropy-decoded latents → arrays as ``decompress`` gives.

    One latent at a time (batch of one): the result never depends on the batch it came in.
    """
    _check_options(modality, backend)
    results: list = []
    for d in latents:
        m, c = d.model, d.chunk
        dec = {}
        for which in ("optical", "sar"):
            if modality in (which, "both"):
                x = run_decoder(m, d.latent[None], c.lmbda, which, backend)[0]
                dec[which] = restore(x[:, :c.height, :c.width], c, which)
        results.append((dec["optical"], dec["sar"]) if modality == "both" else dec[modality])
    return results


def decompress_batch(chunks, modality: str = "both", device="auto", model=None, backend: Backend = DEFAULT_BACKEND) -> list:
    """Decode many chunks, each on its own (the bytes a chunk decodes to never depend on its batch)."""
    _check_options(modality, backend)
    return synthesize(entropy_decode(chunks, device=device, model=model), modality, backend)


def decompress(data: bytes, modality: Modality = "both", device: Device = "auto",
               model: ModelSpec | None = None,
               backend: Backend = DEFAULT_BACKEND) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Decode one chunk into the arrays that were compressed (or one of them).

    Parameters
    ----------
    data
        A chunk from ``compress`` / ``compress_batch``.
    modality
        ``"both"``, or ``"optical"`` / ``"sar"`` to run only that modality's decoder (entropy
        decoding is shared, so one modality costs about 0.6–0.7× of both).
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:N]"``.
    model
        The model to decode with (name, path or loaded model); by default the registered model the
        chunk names, verified by its sha256. A different model is refused.
    backend
        What runs the decoders: ``"auto"`` (the default:
        ``"torch-bf16"`` where the device has native bf16 units, as
        ``geocodec.precision.resolve_backend`` decides, else ``"torch"``), ``"torch"`` (fp32, the
        reference), ``"torch-bf16"`` (bf16 autocast + channels_last; its
        cost against fp32 is measured in the README), or ONNX Runtime graphs built from the model
        (needs ``geocodec[fast]``): ``"onnx"`` in float32 (the same values to float rounding),
        ``"onnx-int8"`` quantised (slightly lossier). The entropy-decoded latents are the same
        for every backend.

    Returns
    -------
    (optical, sar) or numpy.ndarray
        For ``modality="both"`` the pair, else that modality's array: the shapes and dtypes that were
        compressed, NaN and nodata exactly where they were, values clamped to each band's range.

    Raises
    ------
    geocodec.errors.CorruptStreamError
        ``data`` is not an intact geocodec chunk.
    geocodec.errors.ModelMismatchError
        ``model`` is not the model that wrote the chunk.
    geocodec.errors.EntropyParameterMismatchError
        This device computes the entropy parameters differently from the encoder's (re-encode, or
        decode on the kind of device that encoded).
    """
    return decompress_batch([data], modality=modality, device=device, model=model, backend=backend)[0]
