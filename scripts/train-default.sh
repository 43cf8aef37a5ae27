#!/usr/bin/env bash
# The `default` model's training recipe (geocodec train --config recipe) on the real data beside the
# repository (../shared/data; see docs/model-card.md). Continues the committed checkpoint in
# checkpoints/recipe/ when it is there. Extra arguments go to `geocodec train`
# (e.g. --max-minutes 60, or --config gpu --device cuda on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${GEOCODEC_DATA:-../shared/data}
CONFIG=${GEOCODEC_CONFIG:-recipe}   # or finetune (the shipped model continued at its own architecture),
                                    # or encoder (only its encoder side, on the pairs)
OUT=${GEOCODEC_RUN:-checkpoints/$CONFIG}
resume=()
[ -f "$OUT/checkpoint.safetensors" ] && resume=(--resume)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}   # no busy-waiting threads on a shared machine
exec .venv/bin/geocodec train --config "$CONFIG" --out "$OUT" "${resume[@]}" \
  --data "$D/bigearthnet-pairs-train.zarr" --data "$D/pairs-extra.zarr" \
  --optical-only "$D/pretrain-optical.zarr" --optical-only "$D/pretrain-optical-small.zarr" \
  --optical-only "$D/sentinel2-l1c-scene-10m.tif" --sar-only "$D/pretrain-sar.zarr" \
  --probe "$D/bigearthnet-example-geotiff" --probe-pair "$D/sen1floods11-spain/S2.tif" "$D/sen1floods11-spain/S1.tif" \
  "$@"
