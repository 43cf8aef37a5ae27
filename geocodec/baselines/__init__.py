"""Baseline codecs for rate–distortion comparisons (not used by the geocodec codec itself)."""
