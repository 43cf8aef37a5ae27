#!/usr/bin/env bash
# Create .venv and install geocodec with its test extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenJPEG for the JPEG 2000 baseline (glymur); skipped when already present or not root.
if ! ldconfig -p 2>/dev/null | grep -q libopenjp2; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenjp2-7) >/dev/null \
      || echo "warning: could not install libopenjp2-7; JPEG 2000 baseline tests will skip" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch/torchvision pinned to the pair that imports together (see README, 'Installation').
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[test]"
# the real sample for `geocodec demo` (data only: its own dependencies are not needed)
.venv/bin/python -m pip install -q --no-deps "bigearthnet-common==2.8.0"
