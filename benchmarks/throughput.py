"""geocodec's speed as ratios against OpenJPEG (JPEG 2000 at equal bpp) and Zstd, measured side by side.

    .venv/bin/python benchmarks/throughput.py [--device cpu|cuda] [--tiles 256,512] [--rounds 5]
        [--threads 1] [--batch-size 1] [--lmbda 0.01] [--model default] [--backends auto,torch,onnx,onnx-int8]
        [--out benchmarks/results/throughput-cpu.json]

Data: the real Sen1Floods11 Spain pair (``../shared/data/sen1floods11-spain``, 512×512, S2 B02,
B03, B04, B08 int16; S1 VV, VH float32 dB) cut into ``tile``×``tile`` pairs; without ``../shared``
honest synthetic pairs (smooth fields in realistic ranges) of the same sizes, and the JSON says so.

For every tile size, each *operation* is timed for every codec on the same tiles:

* ``encode``           both modalities → bytes
* ``decode_both``      bytes → both modalities
* ``decode_optical``   bytes → optical only (geocodec runs only the optical decoder; JPEG 2000 decodes
                       only the optical codestream)
* ``decode_sar``       likewise for SAR

``geocodec`` is the default settings (``backend="auto"``: bf16 where the CPU has the units, fp32
elsewhere; the JSON records what it resolved to) through the numpy API (``compress_batch`` /
``decompress_batch``); ``geocodec-xarray`` is the same default through Zarr and xarray as a user
reads a cube: ``geocodec.to_zarr`` of the pair in ``tile`` chunks, then ``xr.open_dataset(store,
engine="geocodec")[var].values`` with the engine's default (seamless) reads, the latent cache
emptied before every read (real data only: it needs the pair's georeferencing).

Baselines: OpenJPEG through glymur (9/7 irreversible, one codestream per modality, rate matched
to geocodec's measured joint bpp on these tiles; the denominator of every ratio), JPEG XL through
imagecodecs (one 16-bit codestream per band, the Butteraugli distance matched to the same bpp, as
``geocodec.evaluation.baselines.jpegxl`` codes it; skipped if imagecodecs lacks it) and Zstd
level 5 from numcodecs (lossless, for scale). Repeats are *interleaved*: every round runs every (codec, operation) once, in an order
that rotates between rounds, so drift in the machine's load hits all codecs alike; the figure is
the median over rounds. Wall time and process CPU time (all threads) are both recorded, per pair.
The ratios (geocodec time ÷ baseline time, so lower is better) are what count on a shared
machine; absolute times move with its load. All CPU codecs run on ``--threads`` threads (default
1: OpenJPEG and Zstd decode on one thread here). With ``--device cuda`` geocodec runs on the GPU
(``--batch-size`` pairs per device batch) and the baselines stay on the CPU.

Where geocodec's C kernels are built, ``geocodec-torch-entropy`` is the default codec with them
switched off (``geocodec.model.native``): the same bytes, decoded by the torch/compressai path.

``--backends`` adds geocodec with other network backends (``backend="torch"`` / ``"onnx"`` /
``"onnx-int8"``; ``auto`` is the default row itself) as further codecs in the same rounds: they encode the same tiles, and decode the chunks the default
encoder made, so every decode row decodes the same bytes. Their cost is recorded too: PSNR of their
decoders on those chunks, and bpp and PSNR (the default decoders) of the chunks their encoders make.

A second table holds every geocodec row against issue #18's goals in CPU time (``GOALS``; the
JSON's ``goals``): encode over OpenJPEG's encode, and every decode, one modality or both, over
OpenJPEG decoding *both* modalities of the same pair; and where the default decode's time goes
(``parts_ms``: entropy decoding, each synthesis transform; measured after the rounds).

Prints the markdown tables and writes JSON (default ``benchmarks/results/throughput-<device>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (geocodec does this too)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path(os.environ.get("GEOCODEC_SHARED_DATA", ROOT.parent / "shared" / "data")) / "sen1floods11-spain"
OPERATIONS = ("encode", "decode_both", "decode_optical", "decode_sar")
#: Issue #18's goals, each a ratio of CPU time against OpenJPEG: encoding over OpenJPEG encoding, and
#: every decode (one modality or both) over OpenJPEG decoding *both* modalities of the same pair.
GOALS = {"encode": 2.0, "decode_both": 8.0, "decode_optical": 5.0, "decode_sar": 5.0}


# ---------------------------------------------------------------------------- data
def real_tiles(tile: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from geocodec.io import open_pair

    ds = open_pair(DATA / "S2.tif", DATA / "S1.tif").load()
    opt, sar = ds.optical.values, ds.sar.values
    h, w = opt.shape[1:]
    return [(opt[:, y:y + tile, x:x + tile].copy(), sar[:, y:y + tile, x:x + tile].copy())
            for y in range(0, h - tile + 1, tile) for x in range(0, w - tile + 1, tile)]


def synthetic_tiles(tile: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(tile)
    out = []
    for _ in range(n):
        base = gaussian_filter(rng.standard_normal((tile, tile)), 6)
        base = (base - base.min()) / (np.ptp(base) + 1e-9)
        opt = np.stack([400 + 2500 * base + 150 * k + 80 * gaussian_filter(rng.standard_normal((tile, tile)), 1)
                        for k in range(4)]).astype(np.int16)
        sar = np.stack([-14 + 9 * base + rng.normal(0, 1.5, (tile, tile)),
                        -21 + 7 * base + rng.normal(0, 1.5, (tile, tile))]).astype(np.float32)
        out.append((opt, sar))
    return out


# ---------------------------------------------------------------------------- codecs
class Geocodec:
    name = "geocodec"

    def __init__(self, device: str, lmbda: float, batch_size: int, backend: str = "auto", model: str = "default"):
        from geocodec.registry import load_model

        self.model = load_model(model, device)
        self.device, self.lmbda, self.batch_size, self.backend = device, lmbda, batch_size, backend

    def _sync(self):
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def encode(self, pairs):
        from geocodec.codec import compress_batch

        out = compress_batch(pairs, lmbda=self.lmbda, model=self.model, device=self.device,
                             batch_size=self.batch_size, backend=self.backend)
        self._sync()
        return out

    def decode(self, coded, modality: str):
        from geocodec.codec import decompress_batch

        out = []
        for i in range(0, len(coded), self.batch_size):
            out += decompress_batch(coded[i:i + self.batch_size], modality, device=self.device, model=self.model,
                                    backend=self.backend)
        self._sync()
        return out

    @staticmethod
    def nbytes(coded) -> int:
        return sum(len(c) for c in coded)


class GeocodecTorchEntropy(Geocodec):
    """The default geocodec with the exact entropy coder's C kernels switched off (the torch and
    compressai path they replace): the same bytes and latents, to show what the kernels save."""

    def _off(self, fn, *args):
        from geocodec.model import native

        before, native.ENABLED = native.ENABLED, False
        try:
            return fn(*args)
        finally:
            native.ENABLED = before

    def encode(self, pairs):
        return self._off(super().encode, pairs)

    def decode(self, coded, modality: str):
        return self._off(super().decode, coded, modality)


class OpenJpeg:
    """Each modality one raw .j2k codestream, as ``geocodec.evaluation.baselines.jpeg2000`` codes it."""

    def __init__(self, bits_per_sample: float, tmp: Path):
        import glymur

        from geocodec.evaluation.baselines import jpeg2000 as j2k, u16

        self.glymur, self.j2k, self.u16, self.tmp = glymur, j2k, u16, tmp
        self.ratio = j2k.BITS_PER_SAMPLE / bits_per_sample
        self.name = f"OpenJPEG ({bits_per_sample:.3f} bit/sample)"

    def prepare(self, pairs):
        """uint16 mapping (not timed: geocodec's own normalisation is inside its timings, so this favours
        the baseline slightly)."""
        u16 = self.u16
        out = []
        for o, s in pairs:
            filled = np.where(np.isnan(s), np.nanmean(s, axis=(1, 2), keepdims=True), s)
            out.append((np.ascontiguousarray(np.moveaxis(u16.optical_to_u16(o), 0, -1)),
                        np.ascontiguousarray(np.moveaxis(u16.SarMapping.to_u16(filled), 0, -1))))
        return out

    def encode(self, prepared):
        paths = []
        for k, (o, s) in enumerate(prepared):
            for tag, a in (("o", o), ("s", s)):
                p = self.tmp / f"{k}{tag}.j2k"
                self.glymur.Jp2k(str(p), data=a, cratios=[self.ratio], irreversible=True, mct=False, numres=6)
                paths.append(p)
        return paths

    def decode(self, paths, modality: str):
        keep = {"both": ("o.j2k", "s.j2k"), "optical": ("o.j2k",), "sar": ("s.j2k",)}[modality]
        return [self.glymur.Jp2k(str(p))[:] for p in paths if p.name.endswith(keep)]

    @staticmethod
    def nbytes(paths) -> int:
        return sum(p.stat().st_size for p in paths)


class JpegXl:
    """Each band one 16-bit JPEG XL codestream (``baselines.jpegxl``), at the Butteraugli distance
    whose bytes on these tiles come closest to ``target_bytes`` (searched once, not timed)."""

    def __init__(self, tiles, target_bytes: int):
        from geocodec.evaluation.baselines import jpegxl, u16

        self.jxl, self.u16 = jpegxl, u16
        self.inputs = self.prepare(tiles)
        lo, hi = 0.1, 25.0  # larger distance = fewer bytes
        for _ in range(12):
            mid = (lo * hi) ** 0.5
            lo, hi = (mid, hi) if self.nbytes(self.encode(self.inputs, mid)) > target_bytes else (lo, mid)
        self.distance = (lo * hi) ** 0.5
        self.name = f"JPEG XL (distance {self.distance:.2f})"

    def prepare(self, pairs):
        out = []
        for o, s in pairs:
            filled = np.where(np.isnan(s), np.nanmean(s, axis=(1, 2), keepdims=True), s)
            out.append((self.u16.optical_to_u16(o), self.u16.SarMapping.to_u16(filled)))
        return out

    def encode(self, prepared, distance: float | None = None):
        d = self.distance if distance is None else distance
        return [[[self.jxl.encode_band(b, d) for b in m] for m in pair] for pair in prepared]

    def decode(self, coded, modality: str):
        pick = {"both": (0, 1), "optical": (0,), "sar": (1,)}[modality]
        return [[self.jxl.decode_band(b) for b in pair[i]] for pair in coded for i in pick]

    @staticmethod
    def nbytes(coded) -> int:
        return sum(len(b) for pair in coded for m in pair for b in m)


class EngineReads:
    """The default user path: ``geocodec.to_zarr`` in ``tile`` chunks, read back through the xarray
    engine's default (seamless) reads; ``n`` pairs per cube, so times are per pair like the rest."""

    def __init__(self, device: str, lmbda: float, tile: int, n: int, tmp: Path, model: str = "default"):
        from geocodec.io import open_pair

        self.ds = open_pair(DATA / "S2.tif", DATA / "S1.tif").load()
        self.device, self.lmbda, self.tile, self.n, self.tmp, self.model = device, lmbda, tile, n, tmp, model
        self.name, self._k = "geocodec through to_zarr / xarray", 0

    def encode(self, _tiles):
        import geocodec

        self._k += 1
        store = self.tmp / f"cube-{self.tile}-{self._k}.zarr"
        geocodec.to_zarr(self.ds, str(store), lmbda=self.lmbda, chunks=self.tile, device=self.device, progress=False,
                        model=self.model)
        return store

    def decode(self, store, modality: str):
        import xarray as xr

        from geocodec.cube.cache import LATENTS

        LATENTS.clear()  # every read entropy-decodes, as a fresh session would
        names = {"both": ("optical", "sar"), "optical": ("optical",), "sar": ("sar",)}[modality]
        with xr.open_dataset(store, engine="geocodec", device=self.device) as ds:
            return [ds[v].values for v in names]

    @staticmethod
    def nbytes(store) -> int:
        return sum(p.stat().st_size for p in (Path(store) / "pair" / "c").rglob("*") if p.is_file())


class Zstd:
    name = "Zstd level 5 (lossless)"

    def __init__(self):
        from numcodecs import Zstd as _Zstd

        self.z = _Zstd(level=5)

    def encode(self, pairs):
        return [(self.z.encode(np.ascontiguousarray(o)), self.z.encode(np.ascontiguousarray(s))) for o, s in pairs]

    def decode(self, coded, modality: str):
        pick = {"both": (0, 1), "optical": (0,), "sar": (1,)}[modality]
        return [self.z.decode(c[i]) for c in coded for i in pick]

    @staticmethod
    def nbytes(coded) -> int:
        return sum(len(a) + len(b) for a, b in coded)


def _psnr(tiles, decoded) -> dict:
    """Mean PSNR per modality over the tiles (peaks as in the model card; NaN samples skipped)."""
    from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr

    opt = [psnr(o.astype(np.float64), d[0].astype(np.float64), PEAK_OPTICAL) for (o, _), d in zip(tiles, decoded)]
    sar = [psnr(s.astype(np.float64), d[1].astype(np.float64), PEAK_SAR_DB, valid=~np.isnan(s))
           for (_, s), d in zip(tiles, decoded)]
    return {"optical": float(np.mean(opt)), "sar": float(np.mean(sar))}


# ---------------------------------------------------------------------------- measuring
def _goals(ms: dict) -> dict:
    """Every geocodec row against issue #18's goals: CPU time over the goal's denominator
    (OpenJPEG encoding for encode, OpenJPEG decoding both modalities for every decode)."""
    denominator = {op: "encode" if op == "encode" else "decode_both" for op in OPERATIONS}
    rows = {}
    for k in (k for k in ms if k.startswith("geocodec")):
        ratios = {op: ms[k][op]["cpu"] / ms["openjpeg"][denominator[op]]["cpu"] for op in OPERATIONS}
        rows[k] = {op: {"ratio_cpu": r, "met": r <= GOALS[op]} for op, r in ratios.items()}
    return {"goal": GOALS, "denominator": {op: f"openjpeg {d}" for op, d in denominator.items()}, "rows": rows}


def _parts(geo: "Geocodec", coded: list[bytes], rounds: int) -> dict:
    """Where the default decode's time goes, per pair (process CPU time, median of ``rounds``, after
    the interleaved rounds): entropy decoding (rANS and the integer parameter nets, shared by both
    modalities) and each synthesis transform with its un-normalisation."""
    from geocodec.codec import entropy_decode, synthesize

    samples = {"entropy_decode": [], "synthesis_optical": [], "synthesis_sar": []}
    for _ in range(rounds):
        _, cpu, latents = _clock(lambda: entropy_decode(coded, device=geo.device, model=geo.model))
        samples["entropy_decode"].append(cpu / len(coded))
        for which in ("optical", "sar"):
            _, cpu, _ = _clock(lambda: synthesize(latents, which, backend=geo.backend))
            samples[f"synthesis_{which}"].append(cpu / len(coded))
    return {k: 1e3 * statistics.median(v) for k, v in samples.items()}


def _clock(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def bench_tile(tiles, tile: int, args, tmp: Path, real: bool) -> dict:
    from geocodec.evaluation.baselines import jpegxl
    from geocodec.precision import resolve_backend

    n = len(tiles)
    px = n * tile * tile
    geo = Geocodec(args.device, args.lmbda, args.batch_size, model=args.model)  # default settings: backend="auto"
    default_backend = resolve_backend("auto", geo.model.device)
    variants = {f"geocodec-{b}": Geocodec(args.device, args.lmbda, args.batch_size, backend=b, model=args.model)
                for b in args.backends if b != "auto"}
    from geocodec.model import native

    if native.kernels() is not None:  # the same default codec without its C kernels, side by side
        variants["geocodec-torch-entropy"] = GeocodecTorchEntropy(args.device, args.lmbda, args.batch_size,
                                                                  model=args.model)
    for g in (geo, *variants.values()):  # warm-up: kernels, caches, the float64 coding nets, ONNX graphs
        g.decode(g.encode(tiles[:1]), "both")
    geo_coded = geo.encode(tiles)
    bpp = 8 * geo.nbytes(geo_coded) / (2 * px)
    n_bands = tiles[0][0].shape[0] + tiles[0][1].shape[0]
    j2k = OpenJpeg(bpp * 2 / n_bands, tmp)  # joint bpp = bits / (2·H·W); n_bands samples per pixel
    j2k_in = j2k.prepare(tiles)
    zstd = Zstd()
    codecs = {
        "geocodec": (geo, tiles, geo_coded),
        **{k: (g, tiles, geo_coded) for k, g in variants.items()},
        "openjpeg": (j2k, j2k_in, j2k.encode(j2k_in)),
        "zstd": (zstd, tiles, zstd.encode(tiles)),
    }
    if real and args.device == "cpu" or real and str(args.device).startswith("cuda"):
        engine = EngineReads(args.device, args.lmbda, tile, n, tmp, args.model)
        codecs["geocodec-xarray"] = (engine, tiles, engine.encode(tiles))
    if jpegxl.available():
        jxl = JpegXl(tiles, geo.nbytes(geo_coded))
        codecs["jpegxl"] = (jxl, jxl.inputs, jxl.encode(jxl.inputs))
    bytes_ = {k: c.nbytes(coded) for k, (c, _, coded) in codecs.items()}
    jobs = [(k, op) for k in codecs for op in OPERATIONS]
    samples = {job: {"wall": [], "cpu": []} for job in jobs}
    for r in range(args.rounds):
        shift = r % len(jobs)
        for key, op in jobs[shift:] + jobs[:shift]:  # rotate the order between rounds
            codec, inputs, coded = codecs[key]
            if op == "encode":
                wall, cpu, _ = _clock(lambda: codec.encode(inputs))
            else:
                wall, cpu, _ = _clock(lambda: codec.decode(coded, op.removeprefix("decode_")))
            samples[(key, op)]["wall"].append(wall / n)
            samples[(key, op)]["cpu"].append(cpu / n)
        print(f"  {tile}²: round {r + 1}/{args.rounds} done", flush=True)
    ms = {k: {op: {w: 1e3 * statistics.median(samples[(k, op)][w]) for w in ("wall", "cpu")}
              for op in OPERATIONS if (k, op) in samples} for k in codecs}
    ratios = {base: {op: {w: ms["geocodec"][op][w] / ms[base][op][w] for w in ("wall", "cpu")}
                     for op in OPERATIONS} for base in ("openjpeg", "zstd", "jpegxl") if base in ms}
    over_openjpeg = {k: {op: {w: ms[k][op][w] / ms["openjpeg"][op][w] for w in ("wall", "cpu")} for op in OPERATIONS}
                     for k in ms if k.startswith("geocodec") or k == "jpegxl"}
    extra = {"goals": _goals(ms), "parts_ms": _parts(geo, geo_coded, args.rounds)}
    if variants:
        torch_psnr = _psnr(tiles, geo.decode(geo_coded, "both"))  # the default encodes and decodes the same chunks
        extra["backends"] = {"auto": {"decode_psnr_db": torch_psnr, "encode_bpp": bpp, "encode_psnr_db": torch_psnr,
                                      "resolved": default_backend}}
        for k, g in variants.items():
            own = g.encode(tiles)  # the chunks this backend's encoder makes, decoded by the default decoders
            extra["backends"][k.removeprefix("geocodec-")] = {
                "over_openjpeg": {op: {w: ms[k][op][w] / ms["openjpeg"][op][w] for w in ("wall", "cpu")}
                                  for op in OPERATIONS},
                "speedup_over_default": {op: {w: ms["geocodec"][op][w] / ms[k][op][w] for w in ("wall", "cpu")}
                                       for op in OPERATIONS},
                "decode_psnr_db": _psnr(tiles, g.decode(geo_coded, "both")),
                "encode_bpp": 8 * geo.nbytes(own) / (2 * px), "encode_psnr_db": _psnr(tiles, geo.decode(own, "both"))}
    quality = {}
    if "jpegxl" in codecs:  # the same codestreams' quality, through the baseline's own round trip (not timed)
        d = codecs["jpegxl"][0].distance
        quality["jpegxl"] = _psnr(tiles, [(jpegxl.code_optical(o, d).decoded, jpegxl.code_sar(s, d)[0].decoded)
                                          for o, s in tiles])
    return {**extra,
        "tile": tile, "pairs": n, "default_backend": default_backend, "bpp": {k: 8 * b / (2 * px) for k, b in bytes_.items()},
        "over_openjpeg": over_openjpeg, "psnr_db": {"geocodec": _psnr(tiles, geo.decode(geo_coded, "both")), **quality},
        "jpegxl_distance": codecs["jpegxl"][0].distance if "jpegxl" in codecs else None,
        "openjpeg_bits_per_sample": bpp * 2 / n_bands, "ms_per_pair": ms, "geocodec_over": ratios,
        "mpx_pairs_per_s": {k: {op: tile * tile / 1e3 / v["wall"] for op, v in d.items()} for k, d in ms.items()},
        "rounds": args.rounds,
    }


def markdown(results: list[dict]) -> str:
    names = {"encode": "encode", "decode_both": "decode both", "decode_optical": "decode optical only",
             "decode_sar": "decode SAR only"}
    lines = ["| tile | operation | geocodec ms/pair (wall / CPU) | OpenJPEG ms/pair | JPEG XL ms/pair | Zstd ms/pair "
             "| × OpenJPEG (wall / CPU) | × JPEG XL (CPU) | × Zstd (wall) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ms, over = r["ms_per_pair"], r["geocodec_over"]
        for op in OPERATIONS:
            g, j, z = ms["geocodec"][op], ms["openjpeg"][op], ms["zstd"][op]
            x = f"{ms['jpegxl'][op]['wall']:.2f}" if "jpegxl" in ms else "—"
            ox = f"{over['jpegxl'][op]['cpu']:.1f}×" if "jpegxl" in over else "—"
            lines.append(f"| {r['tile']}² | {names[op]}, default (`{r['default_backend']}`) | {g['wall']:.1f} / "
                         f"{g['cpu']:.1f} | {j['wall']:.2f} | {x} | {z['wall']:.2f} | **{over['openjpeg'][op]['wall']:.1f}×** / "
                         f"{over['openjpeg'][op]['cpu']:.1f}× | {ox} | {over['zstd'][op]['wall']:.0f}× |")
    for r in results:
        rows = [(f"geocodec-{b}", f'`backend="{b}"`') for b in r.get("backends", {}) if b != "auto"]
        rows += [("geocodec-xarray", "xarray engine, default reads")] if "geocodec-xarray" in r["ms_per_pair"] else []
        for key, label in rows:
            for op in OPERATIONS:
                g, o = r["ms_per_pair"][key][op], r["over_openjpeg"][key][op]
                lines.append(f"| {r['tile']}² | {names[op]}, {label} | {g['wall']:.1f} / {g['cpu']:.1f} "
                             f"| {r['ms_per_pair']['openjpeg'][op]['wall']:.2f} | — | — | **{o['wall']:.1f}×** / "
                             f"{o['cpu']:.1f}× | — | — |")
    lines += ["", "| tile | path | encode (goal ≤ 2×) | decode both (≤ 8×) | optical only (≤ 5×) | SAR only (≤ 5×) "
              "| entropy decode / optical / SAR synthesis, ms |", "|---|---|---|---|---|---|---|"]
    for r in results:
        for key, row in r["goals"]["rows"].items():
            cells = " | ".join(f"{v['ratio_cpu']:.1f}× {'met' if v['met'] else 'not met'}" for v in row.values())
            parts = r["parts_ms"]
            tail = (f"{parts['entropy_decode']:.1f} / {parts['synthesis_optical']:.1f} / {parts['synthesis_sar']:.1f}"
                    if key == "geocodec" else "—")
            lines.append(f"| {r['tile']}² | {key} | {cells} | {tail} |")
    psnr = [f"{r['tile']}², `{b}`: decoders {v['decode_psnr_db']['optical']:.2f} / {v['decode_psnr_db']['sar']:.2f} dB; "
            f"encoder {v['encode_bpp']:.4f} bpp, {v['encode_psnr_db']['optical']:.2f} / {v['encode_psnr_db']['sar']:.2f} dB"
            for r in results for b, v in r.get("backends", {}).items()]
    bpp = "; ".join(f"{r['tile']}²: " + ", ".join(f"{k} {v:.3f}" for k, v in r["bpp"].items()) for r in results)
    quality = "; ".join(f"{r['tile']}²: " + ", ".join(f"{k} {v['optical']:.2f} / {v['sar']:.2f}" for k, v in r["psnr_db"].items())
                        for r in results)
    tail = f"\n\nbpp (joint, bits / (2·H·W)) — {bpp}\n\nPSNR optical / SAR dB (peaks 10000 / 70 dB) — {quality}"
    if psnr:
        tail += ("\n\nBackends, PSNR optical / SAR (peaks 10000 / 70 dB): their decoders on the default encoder's chunks; "
                 "their encoder's chunks (bpp, and PSNR through the default decoders) — " + "; ".join(psnr))
    return "\n".join(lines) + tail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="geocodec's device: cpu or cuda[:N] (baselines: CPU)")
    ap.add_argument("--tiles", default="256,512", help="tile sizes, comma-separated")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds; figures are medians")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for torch (and glymur)")
    ap.add_argument("--batch-size", type=int, default=1, help="geocodec pairs per device batch")
    ap.add_argument("--lmbda", type=float, default=0.01)
    ap.add_argument("--model", default="default", help="registered model name (e.g. default@1.0.0) or weights file")
    ap.add_argument("--backends", type=lambda s: [b for b in s.split(",") if b], default=["auto"],
                    help="geocodec network backends to time beside the default (auto), e.g. torch,onnx,onnx-int8")
    ap.add_argument("--synthetic", action="store_true", help="synthetic tiles even when the real pair is there")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/throughput-<device>.json)")
    args = ap.parse_args(argv)

    import glymur
    import torch

    torch.set_num_threads(args.threads)
    glymur.set_option("lib.num_threads", args.threads)
    real = DATA.exists() and not args.synthetic
    sizes = [int(t) for t in args.tiles.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="geocodec-bench-") as tmp:
        for tile in sizes:
            tiles = real_tiles(tile) if real else synthetic_tiles(tile, max(1, (512 // tile) ** 2))
            print(f"{len(tiles)} {'real Sen1Floods11 Spain' if real else 'synthetic'} pairs of {tile}×{tile}; "
                  f"geocodec on {args.device}, {args.threads} thread(s), batch {args.batch_size}", flush=True)
            results.append(bench_tile(tiles, tile, args, Path(tmp), real))
    table = markdown(results)
    print("\n" + table)
    from geocodec.model import native
    from geocodec.training.checkpoint import cpu_name

    load = os.getloadavg()
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"throughput-{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": "benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": ("real: Sen1Floods11 Spain pair" if real else "synthetic smooth-field pairs"),
        "machine": {"platform": platform.platform(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
                    "threads": args.threads, "entropy_decoder": native.status(),
                    "device": args.device, "batch_size": args.batch_size, "load_average_at_end": load,
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        "lmbda": args.lmbda, "model": _model_record(args.model), "results": results, "table_markdown": table,
    }, indent=2) + "\n")
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\nwrote {out}")
    return 0


def _model_record(name: str) -> dict:
    from geocodec.registry import load_model

    m = load_model(name, "cpu")
    return {"asked": name, "name": m.name, "version": m.version, "sha256": m.sha256}


if __name__ == "__main__":
    sys.exit(main())
