"""``GeocodecExtension``: the geocodec STAC extension as a pystac extension class.

Same pattern as pystac's own extensions (``pystac/extensions/xarray_assets.py``): a
``PropertiesExtension`` with typed properties, ``ExtensionManagementMixin`` to add or check
the schema URI, ``GeocodecExtension.ext(item, add_if_missing=True)`` for Items and
``GeocodecExtension.summaries(collection, add_if_missing=True)`` for Collection summaries.
The fields and their meaning are in ``stac/README.md``; the schema is ``stac/json-schema``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Generic, Literal, TypeVar, cast

import pystac
from pystac.extensions.base import ExtensionManagementMixin, PropertiesExtension, SummariesExtension

#: geocodec's own STAC extension (its schema is stac/json-schema/schema.json in the repository).
SCHEMA_URI = "https://geocodec.github.io/stac-extension/v1.0.0/schema.json"
PREFIX = "geocodec:"

FORMAT_VERSION_PROP = PREFIX + "format_version"
MODEL_PROP = PREFIX + "model"
LAMBDA_PROP = PREFIX + "lambda"
TARGET_BPP_PROP = PREFIX + "target_bpp"
GAMMA_PROP = PREFIX + "gamma"
REFINE_STEPS_PROP = PREFIX + "refine_steps"
MODALITIES_PROP = PREFIX + "modalities"
QUALITY_PROP = PREFIX + "quality"
ARRAY_PROP = PREFIX + "array"
CHUNKS_PROP = PREFIX + "chunks"

#: Link relation from a cube Item to the STAC Item of the model that encoded it (and must decode it).
MODEL_REL = "geocodec:model"

T = TypeVar("T", pystac.Item, pystac.Collection)


@dataclass(frozen=True)
class ModelRef:
    """The model that encoded a cube: registry name, version, tensor sha256, framework."""

    name: str
    version: str
    sha256: str
    framework: str = "pytorch"
    framework_version: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelRef:
        return cls(name=str(d["name"]), version=str(d["version"]), sha256=str(d["sha256"]),
                   framework=str(d.get("framework", "pytorch")), framework_version=str(d.get("framework_version", "")))


class GeocodecExtension(Generic[T], PropertiesExtension, ExtensionManagementMixin[pystac.Item | pystac.Collection]):
    """The ``geocodec:`` fields of an Item: model, λ / target bpp, γ, modalities, quality, layout.

    Use ``GeocodecExtension.ext(item, add_if_missing=True)``; never instantiate directly.
    """

    name: Literal["geocodec"] = "geocodec"

    def apply(
        self,
        *,
        format_version: int,
        model: ModelRef,
        lmbda: float | None,
        target_bpp: float | None,
        gamma: float,
        modalities: dict[str, Any],
        quality: dict[str, Any],
        array: str | None = None,
        chunks: dict[str, int] | None = None,
        refine_steps: int | None = None,
    ) -> None:
        """Set every field at once.

        Parameters
        ----------
        format_version
            Store layout version (the group record's ``format_version``).
        model
            The encoding (and only decoding) model.
        lmbda, target_bpp
            The rate: a fixed λ, or the target bits per pixel (the other is None; both are written).
        gamma
            Fidelity prompt γ in [0, 1].
        modalities
            ``{"optical": {bands, data_type, nodata}, "sar": {bands, data_type, scale, nodata}}``.
        quality
            Quality the writer measured (bpp, PSNR, MS-SSIM, sampled chunks).
        array, chunks
            Name of the joint Zarr array and its chunk sizes per dim.
        refine_steps
            Encode-time latent refinement steps the chunks were coded with; None (or 0) leaves the
            field out (no refinement).
        """
        self.format_version = format_version
        self.model = model
        self.lmbda = lmbda
        self.target_bpp = target_bpp
        self.gamma = gamma
        self.modalities = modalities
        self.quality = quality
        self.array = array
        self.chunks = chunks
        self.refine_steps = refine_steps

    @property
    def format_version(self) -> int | None:
        return self._get_property(FORMAT_VERSION_PROP, int)

    @format_version.setter
    def format_version(self, v: int) -> None:
        self._set_property(FORMAT_VERSION_PROP, int(v))

    @property
    def model(self) -> ModelRef | None:
        d = self._get_property(MODEL_PROP, dict)
        return None if d is None else ModelRef.from_dict(d)

    @model.setter
    def model(self, v: ModelRef) -> None:
        self._set_property(MODEL_PROP, v.to_dict())

    @property
    def lmbda(self) -> float | None:
        return self._get_property(LAMBDA_PROP, float)

    @lmbda.setter
    def lmbda(self, v: float | None) -> None:
        self._set_property(LAMBDA_PROP, None if v is None else float(v), pop_if_none=False)  # required, nullable

    @property
    def target_bpp(self) -> float | None:
        return self._get_property(TARGET_BPP_PROP, float)

    @target_bpp.setter
    def target_bpp(self, v: float | None) -> None:
        self._set_property(TARGET_BPP_PROP, None if v is None else float(v), pop_if_none=False)

    @property
    def gamma(self) -> float | None:
        return self._get_property(GAMMA_PROP, float)

    @gamma.setter
    def gamma(self, v: float) -> None:
        self._set_property(GAMMA_PROP, float(v))

    @property
    def refine_steps(self) -> int | None:
        return self._get_property(REFINE_STEPS_PROP, int)

    @refine_steps.setter
    def refine_steps(self, v: int | None) -> None:
        self._set_property(REFINE_STEPS_PROP, int(v) if v else None)  # optional: absent when 0 / None

    @property
    def modalities(self) -> dict[str, Any] | None:
        return self._get_property(MODALITIES_PROP, dict)

    @modalities.setter
    def modalities(self, v: dict[str, Any]) -> None:
        self._set_property(MODALITIES_PROP, v)

    @property
    def quality(self) -> dict[str, Any] | None:
        return self._get_property(QUALITY_PROP, dict)

    @quality.setter
    def quality(self, v: dict[str, Any]) -> None:
        self._set_property(QUALITY_PROP, v)

    @property
    def array(self) -> str | None:
        return self._get_property(ARRAY_PROP, str)

    @array.setter
    def array(self, v: str | None) -> None:
        self._set_property(ARRAY_PROP, v)

    @property
    def chunks(self) -> dict[str, int] | None:
        return self._get_property(CHUNKS_PROP, dict)

    @chunks.setter
    def chunks(self, v: dict[str, int] | None) -> None:
        self._set_property(CHUNKS_PROP, None if v is None else {str(k): int(n) for k, n in v.items()})

    @classmethod
    def get_schema_uri(cls) -> str:
        return SCHEMA_URI

    @classmethod
    def ext(cls, obj: pystac.Item, add_if_missing: bool = False) -> GeocodecExtension[pystac.Item]:
        """The geocodec fields of ``obj`` (an Item); ``add_if_missing`` declares the schema URI."""
        if isinstance(obj, pystac.Item):
            cls.ensure_has_extension(obj, add_if_missing)
            return cast(GeocodecExtension[pystac.Item], ItemGeocodecExtension(obj))
        raise pystac.ExtensionTypeError(cls._ext_error_message(obj))

    @classmethod
    def summaries(cls, obj: pystac.Collection, add_if_missing: bool = False) -> SummariesGeocodecExtension:
        """The geocodec summaries of a Collection (models, λ / target bpp / γ ranges)."""
        cls.ensure_has_extension(obj, add_if_missing)
        return SummariesGeocodecExtension(obj)


class ItemGeocodecExtension(GeocodecExtension[pystac.Item]):
    def __init__(self, item: pystac.Item):
        self.item = item
        self.properties = item.properties

    def __repr__(self) -> str:
        return f"<ItemGeocodecExtension Item id={self.item.id}>"


class SummariesGeocodecExtension(SummariesExtension):
    """``summaries["geocodec:model"]`` (required) and ranges of λ, target bpp and γ."""

    @property
    def models(self) -> list[ModelRef] | None:
        v = self.summaries.get_list(MODEL_PROP)
        return None if v is None else [ModelRef.from_dict(d) for d in v]

    @models.setter
    def models(self, v: list[ModelRef]) -> None:
        self._set_summary(MODEL_PROP, [m.to_dict() for m in v])

    @property
    def format_versions(self) -> list[int] | None:
        return self.summaries.get_list(FORMAT_VERSION_PROP)

    @format_versions.setter
    def format_versions(self, v: list[int] | None) -> None:
        self._set_summary(FORMAT_VERSION_PROP, v)

    def _range(self, prop: str) -> pystac.RangeSummary[float] | None:
        return self.summaries.get_range(prop)

    @property
    def lmbda(self) -> pystac.RangeSummary[float] | None:
        return self._range(LAMBDA_PROP)

    @lmbda.setter
    def lmbda(self, v: pystac.RangeSummary[float] | None) -> None:
        self._set_summary(LAMBDA_PROP, v)

    @property
    def target_bpp(self) -> pystac.RangeSummary[float] | None:
        return self._range(TARGET_BPP_PROP)

    @target_bpp.setter
    def target_bpp(self, v: pystac.RangeSummary[float] | None) -> None:
        self._set_summary(TARGET_BPP_PROP, v)

    @property
    def gamma(self) -> pystac.RangeSummary[float] | None:
        return self._range(GAMMA_PROP)

    @gamma.setter
    def gamma(self, v: pystac.RangeSummary[float] | None) -> None:
        self._set_summary(GAMMA_PROP, v)
