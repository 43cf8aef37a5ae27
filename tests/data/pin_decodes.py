"""Pin what the fixture chunks decode to, from the chunks themselves (from the repository root: ``PYTHONPATH=. python tests/data/pin_decodes.py``).

Never re-encodes: the chunks under ``tests/data`` stay as they were written. For each chunk it
records the sha256 of the entropy decoder's symbols (exact on every machine: decode contract
layer a, docs/reliability.md) and stores the fp32 torch decode of this host as the reference that
other hosts must match within the measured tolerance (layer c), not bit for bit.
"""
import hashlib
import json
import platform
import subprocess
from pathlib import Path

import numpy as np

from geocodec.codec import entropy_decode, synthesize

DATA = Path(__file__).resolve().parent


def pin(data: bytes) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    d = entropy_decode([data], device="cpu", keep_symbols=True)[0]
    opt, sar = synthesize([d])[0]
    return {"sha256_symbols": d.symbols_sha256(), "n_symbols": int(d.symbols.size),
            "optical_dtype": str(opt.dtype), "sar_dtype": str(sar.dtype)}, (opt, sar)


def main() -> None:
    commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    where = f"fp32 torch on {platform.machine()} {cpu}, geocodec {commit}"
    manifest_path = DATA / "prechange" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    arrays = {}
    for name, case in manifest["chunks"].items():
        data = (DATA / "prechange" / f"{name}.geoc").read_bytes()
        assert hashlib.sha256(data).hexdigest() == case["sha256_chunk"], name
        for k in ("sha256_optical", "sha256_sar"):
            case.pop(k, None)
        fields, (arrays[f"{name}/optical"], arrays[f"{name}/sar"]) = pin(data)
        case.update(fields)
    manifest["reference_decode"] = {"file": "decoded.npz", "written_by": where}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    np.savez_compressed(DATA / "prechange" / "decoded.npz", **arrays)

    v1_path = DATA / "chunk-v1-default.json"
    v1 = json.loads(v1_path.read_text())
    for k in ("optical_sha256", "sar_sha256"):
        v1.pop(k, None)
    fields, (opt, sar) = pin((DATA / "chunk-v1-default.bin").read_bytes())
    v1.update(fields, reference_decode={"file": "chunk-v1-default.npz", "written_by": where})
    v1_path.write_text(json.dumps(v1, indent=1) + "\n")
    np.savez_compressed(DATA / "chunk-v1-default.npz", optical=opt, sar=sar)


if __name__ == "__main__":
    main()
