"""numpy API on one real pair: compress at two γ, decode one modality, read the header.

    .venv/bin/python examples/quickstart.py
"""

import geocodec
from geocodec.io import open_pair
from geocodec.metrics import PEAK_OPTICAL, PEAK_SAR_DB, psnr
from geocodec.sample import sample_pairs

name, s2_dir, s1_dir = sample_pairs()[0]
ds = open_pair(s2_dir, s1_dir).load()
optical, sar = ds["optical"].values, ds["sar"].values  # (4, H, W) uint16, (2, H, W) float32 dB

model = geocodec.load_model()
print(model)
for gamma in (0.9, 0.1):
    data = geocodec.compress(optical, sar, target_bpp=0.6, gamma=gamma)
    opt_hat, sar_hat = geocodec.decompress(data)
    info = geocodec.inspect(data)
    print(f"pair {name} γ={gamma}: {len(data)} bytes, {info['bpp']:.3f} bpp (λ={info['lmbda']:.4f}), "
          f"PSNR optical {psnr(optical, opt_hat, PEAK_OPTICAL):.2f} dB, SAR {psnr(sar, sar_hat, PEAK_SAR_DB):.2f} dB")

sar_only = geocodec.decompress(data, modality="sar")  # the optical decoder never runs
print("SAR-only decode:", sar_only.shape, sar_only.dtype)
