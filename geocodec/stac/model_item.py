"""The model itself as a STAC Item (MLM extension), so a catalogue says which model decodes which cube.

The Item describes one registered model (or weights file): architecture, input bands (optical,
SAR), outputs (one reconstruction per decoder), framework, the λ range it serves and the γ
range of its fidelity prompt (``mlm:hyperparameters``), and its weights as an asset with role
``mlm:model`` and ``file:checksum`` (SHA2-256 multihash of the file's bytes). The tensor
digest every chunk header pins (``geocodec:model.sha256`` of a cube Item) starts the Item id's
suffix and is spelled out in its description. Cube Items link here with rel ``geocodec:model``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pystac
from pystac.extensions.file import FileExtension
from pystac.extensions.mlm import (
    Hyperparameters,
    InputStructure,
    MLMExtension,
    ModelInput,
    ModelOutput,
    ResultStructure,
    TaskType,
)
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

from geocodec.stac.errors import StacError
from geocodec.stac.hrefs import item_file, relative_href, save_item
from geocodec.stac.schemas import MLM_SCHEMA_URI, validate
from geocodec.stac.store import MULTIHASH_SHA256

WEIGHTS_ASSET = "weights"
ARCHITECTURE = ("geocodec joint SAR-optical learned image codec: attentive-fusion encoder, ELIC-style entropy "
                "model (hyperprior, uneven channel groups, checkerboard context), two independent decoders")
DIM_ORDER = ["batch", "channel", "height", "width"]
#: How the weights file was saved (MLM v1.4 ``mlm:artifact_type``); geocodec.registry loads it.
ARTIFACT_TYPE = "safetensors.torch.save_file"


def _weights(model: str) -> tuple[Path, dict, dict]:
    """(weights path, the file's metadata, its registry entry or {}) of a registered name or a weights path."""
    from geocodec.model_file import read_metadata
    from geocodec.registry import resolve_weights

    w = resolve_weights(model)
    return w.path, read_metadata(w.path), w.entry


def _file_facts(path: Path) -> tuple[int, str, int]:
    """(size, sha2-256 multihash of the bytes, number of tensor elements) of a safetensors file."""
    from safetensors import safe_open

    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    n = 0
    with safe_open(str(path), framework="numpy") as f:
        for k in f.keys():
            shape = f.get_slice(k).get_shape()
            count = 1
            for s in shape:
                count *= int(s)
            n += count
    return path.stat().st_size, MULTIHASH_SHA256 + h.hexdigest(), n


def _learned_gamma(cfg: dict) -> dict:
    """A task-finetuned model's γ per λ (``geocodec.learned_gamma``; ``gamma="learned"`` uses it)."""
    from geocodec.learned_gamma import KEY

    entry = (cfg.get("extra") or {}).get(KEY)
    return {} if entry is None else {KEY: {"lmbda": list(entry["lmbda"]), "gamma": list(entry["gamma"])}}


def model_item_id(name: str, version: str, sha256: str) -> str:
    """Id of a model's STAC Item: name, version and the tensor digest's first 12 hex digits.

    Parameters
    ----------
    name, version, sha256
        The model's registry name, version and weights sha256 (``load_model().sha256``).

    Returns
    -------
    str
        ``geocodec-model-{name}-{version}-{sha256[:12]}``.
    """
    return f"geocodec-model-{name}-{version}-{sha256[:12]}"


def create_model_item(model: str = "default", *, weights_href: str | None = None,
                      datetime: dt.datetime | None = None, validate_item: bool = True) -> pystac.Item:
    """The STAC Item (MLM extension) of a geocodec model.

    Parameters
    ----------
    model
        Registered model name (``"default"``) or the path of a geocodec ``.safetensors`` file.
    weights_href
        Href of the weights asset (default: the file's absolute path).
    datetime
        The Item's datetime (default: the weights file's modification time, UTC).
    validate_item
        Validate offline (STAC 1.1 core, MLM, file, raster) before returning.

    Returns
    -------
    pystac.Item
        Id ``geocodec-model-<name>-<version>-<sha256[:12]>``; asset ``weights`` (role ``mlm:model``).
    """
    path, meta, entry = _weights(model)
    cfg = json.loads(meta["config"])
    size, checksum, n_params = _file_facts(path)
    optical, sar = list(cfg["optical_bands"]), list(cfg["sar_bands"])
    when = datetime or dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)
    import torch  # the framework version the Item records; publishing a model is not a metadata-only path

    item = pystac.Item(
        id=model_item_id(meta["name"], meta["version"], meta["sha256"]), geometry=None, bbox=None,
        datetime=when,
        properties={
            "title": f"geocodec model {meta['name']} v{meta['version']}",
            "description": (f"{meta.get('note') or entry.get('note') or 'geocodec model'}. Tensor digest (the sha256 "
                            f"every chunk header and cube Item names): {meta['sha256']}"),
        })
    mlm = MLMExtension.ext(item, add_if_missing=True)
    mlm.apply(
        name=f"geocodec-{meta['name']}",
        architecture=ARCHITECTURE,
        tasks=[TaskType.GENERATIVE],
        input=[
            ModelInput.create(name="optical", bands=optical,
                              input=InputStructure.create(shape=[-1, len(optical), -1, -1], dim_order=DIM_ORDER,
                                                          data_type=DataType.FLOAT32),
                              description="Sentinel-2 reflectance (integers x 10000, any of uint8/uint16/int16/"
                                          "float32), scaled per chunk and band inside the codec"),
            ModelInput.create(name="sar", bands=sar,
                              input=InputStructure.create(shape=[-1, len(sar), -1, -1], dim_order=DIM_ORDER,
                                                          data_type=DataType.FLOAT32),
                              description="Sentinel-1 backscatter sigma0 in dB (or linear power, coded in dB)"),
        ],
        output=[
            ModelOutput.create(name=which, tasks=[TaskType.GENERATIVE],
                               result=ResultStructure.create(shape=[-1, n, -1, -1], dim_order=DIM_ORDER,
                                                             data_type=DataType.FLOAT32),
                               description=f"{which} reconstruction from the shared latent (its own decoder)")
            for which, n in (("optical", len(optical)), ("sar", len(sar)))
        ],
        framework="PyTorch",
        framework_version=torch.__version__.split("+")[0],
        total_parameters=n_params,
        pretrained=False,
        pretrained_source=None,
        batch_size_suggestion=4,
        hyperparameters=Hyperparameters.create(lambda_min=float(cfg["lmbda_min"]), lambda_max=float(cfg["lmbda_max"]),
                                               gamma_min=0.0, gamma_max=1.0, **_learned_gamma(cfg)),
    )
    item.properties["mlm:pretrained_source"] = None  # required null when trained from scratch (pystac pops None)
    if MLM_SCHEMA_URI not in item.stac_extensions:  # pystac's class wrote another MLM version than is packaged
        raise StacError(f"this pystac's MLM class writes {item.stac_extensions}, not {MLM_SCHEMA_URI} (the MLM "
                        "schema geocodec packages): install the pystac version geocodec pins (pyproject.toml)")
    asset = pystac.Asset(href=weights_href or str(path.resolve()), media_type="application/octet-stream",
                         roles=["mlm:model", "mlm:weights", "data"],
                         title=f"{meta['name']} v{meta['version']} weights (safetensors)",
                         description=f"safetensors weights; tensor digest sha256 {meta['sha256']}",
                         extra_fields={"mlm:artifact_type": ARTIFACT_TYPE})
    item.add_asset(WEIGHTS_ASSET, asset)
    FileExtension.ext(asset, add_if_missing=True).apply(size=size, checksum=checksum)
    # MLM resolves its input band names through raster:bands (with a name) on the model asset.
    bands = []
    for name, unit in [*((b, "reflectance x 10000") for b in optical), *((b, "dB") for b in sar)]:
        band = RasterBand.create(data_type=DataType.FLOAT32, unit=unit)
        band.properties["name"] = name
        bands.append(band)
    RasterExtension.ext(asset, add_if_missing=True).apply(bands=bands)
    if validate_item:
        validate(item)
    return item


def write_model_item(path: str | os.PathLike, model: str = "default", **kw) -> pystac.Item:
    """Create the model's Item and save it at ``path``.

    The weights href is relative when the weights file lies in the Item's folder (or below it), so
    the two move together; otherwise (the installed package, a registry folder) it is the file's
    absolute path, which stays right wherever the Item is moved; ``file:checksum`` pins its bytes.

    Parameters
    ----------
    path
        Where to write the Item JSON.
    model
        Registered model name or ``.safetensors`` path.
    **kw
        ``create_model_item`` arguments (``weights_href``, ``datetime``, ``validate_item``).

    Returns
    -------
    pystac.Item
        The saved Item, its self href set to ``path``.
    """
    path = item_file(path)
    item = create_model_item(model, **kw)
    item.set_self_href(str(path))
    weights = Path(item.assets[WEIGHTS_ASSET].href)
    if "weights_href" not in kw and weights.is_relative_to(path.parent):
        item.assets[WEIGHTS_ASSET].href = relative_href(weights, path)  # beside the Item: they move together
    return save_item(item, path)
