"""The demo's sample: a given folder first, then $GEOCODEC_SAMPLE_DIR, then the bigearthnet-common wheel."""

from __future__ import annotations

import pytest

from geocodec.errors import GeocodecError
from geocodec.sample import sample_dir, sample_pairs


def _layout(root):
    for d in ("BigEarthNet-S1-Example/S1A_X_33UUP_87_48", "BigEarthNet-S2-Example/S2A_MSIL2A_Y_87_48"):
        (root / d).mkdir(parents=True)
    return root


def test_given_folder_wins_and_pairs_by_row_col(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOCODEC_SAMPLE_DIR", str(_layout(tmp_path / "env")))
    mine = _layout(tmp_path / "mine")
    assert sample_dir(mine) == mine
    assert sample_dir() == tmp_path / "env"
    ((key, s2, s1),) = sample_pairs(mine)
    assert key == "87_48" and s2.parent.name == "BigEarthNet-S2-Example" and s1.parent.name == "BigEarthNet-S1-Example"


def test_a_given_folder_without_the_sample_is_a_clear_error(tmp_path):
    with pytest.raises(GeocodecError, match="holds no BigEarthNet-S1-Example"):
        sample_dir(tmp_path)
