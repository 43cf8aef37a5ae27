"""bpp and physical PSNR (γ 0.5, 3 λ) of two model files on the probe sets, through the public API."""
import sys, json, numpy as np, geocodec, torch
from geocodec.training.data import load_training_data
from geocodec.metrics import psnr, PEAK_OPTICAL, PEAK_SAR_DB
torch.set_num_threads(1)
D = "/work/shared/data"
ben = load_training_data([f"{D}/bigearthnet-example-geotiff"])
sp = load_training_data([], [(f"{D}/sen1floods11-spain/S2.tif", f"{D}/sen1floods11-spain/S1.tif")])
sets = {"ben": list(zip(ben.optical, ben.sar)),
        "spain256": [(o[:, y:y+256, x:x+256], s[:, y:y+256, x:x+256]) for o, s in zip(sp.optical, sp.sar) for y in (0, 256) for x in (0, 256)]}
out = {}
for name, path in (("original", sys.argv[1]), ("refit", sys.argv[2])):
    for sn, pairs in sets.items():
        for lam in (0.003, 0.03, 0.3):
            bits = px = 0; po = []; ps = []
            for o, s in pairs:
                o = np.asarray(o); s = np.asarray(s)
                c = geocodec.compress(o.astype(np.float32), s.astype(np.float32), lmbda=lam, gamma=0.5, model=path, device="cpu", backend="torch")
                ro, rs = geocodec.decompress(c, model=path, device="cpu", backend="torch")
                bits += 8 * len(c); px += o.shape[1] * o.shape[2]
                po.append(psnr(o, ro, PEAK_OPTICAL)); ps.append(psnr(s, rs, PEAK_SAR_DB))
            out[f"{name} {sn} {lam}"] = (bits / (2 * px), float(np.mean(po)), float(np.mean(ps)))
            print(name, sn, lam, [round(v, 3) for v in out[f"{name} {sn} {lam}"]], flush=True)
json.dump(out, open(sys.argv[3], "w"), indent=1)
