"""Memory and time against recording length: invert.py and svdnet.evaluate on long files.

Writes its own long OGG files (noise and harmonic tones, labelled sing / nosing in turns
of 10 s) at each ``--minutes``, builds a dataset whose train, valid and test splits are
that one file, and runs, each in a fresh process of the same run, with the shipped demo
classifier and fc8 inverter:

- ``invert.py`` on the middle of the file: peak resident memory (RSS) and wall time;
- its front end alone (``_file_strip``: decoding, spectrogram, log-mel), timed;
- ``python -m svdnet.evaluate`` over the three splits: peak RSS and wall time;
- a process that only imports the project and PyTorch: the baseline RSS.

Growth is the ratio of peak RSS at the longest file to that at the shortest, minus one.
``--repo`` runs another checkout of the project (e.g. an older commit) on the same files.

    python benchmarks/bench_long_audio.py [--minutes 5 60] [--repo DIR] [--json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_info  # noqa: E402

SR = 22050
TURN_S = 10  # labels alternate every 10 s

FRONT_END = """
import sys, time
import numpy as np
from inverters.inversion import _file_strip, excerpt_index
from svdnet.audio import load_meanstd
path, meanstd, start_s = sys.argv[1], load_meanstd(sys.argv[2]), float(sys.argv[3])
begin = time.perf_counter()
strip = _file_strip(path, meanstd, excerpt_index(start_s), None)
assert strip is not None and np.isfinite(strip).all()
print(time.perf_counter() - begin)
"""
IMPORTS_ONLY = "import torch, inverters.inversion, svdnet.evaluate"


def write_long_ogg(path, minutes, seed=0):
    """An OGG file of ``minutes`` of noise with a tone in every other 10 s, block by block."""
    rng = np.random.default_rng(seed)
    t = np.arange(TURN_S * SR) / SR
    with sf.SoundFile(path, "w", SR, 1, format="OGG") as f:
        for turn in range(int(minutes * 60 // TURN_S)):
            block = 0.05 * rng.standard_normal(len(t))
            if turn % 2:
                f0 = rng.uniform(150, 400) * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
                phase = 2 * np.pi * np.cumsum(f0) / SR
                block += 0.2 * sum(np.sin(k * phase) / k for k in range(1, 10))
            f.write(block.astype(np.float32))


def write_dataset(root, name, minutes):
    """``root/datasets/<name>/``: one long file serving as train, valid and test."""
    folder = root / "datasets" / name
    for sub in ("audio", "labels", "filelists"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    write_long_ogg(folder / "audio" / "long.ogg", minutes)
    turns = int(minutes * 60 // TURN_S)
    lab = "".join(
        f"{i * TURN_S:.3f} {(i + 1) * TURN_S:.3f} {'sing' if i % 2 else 'nosing'}\n"
        for i in range(turns)
    )
    (folder / "labels" / "long.lab").write_text(lab)
    for split in ("train", "valid", "test"):
        (folder / "filelists" / split).write_text("long.ogg\n")


def measured(argv, cwd):
    """Run ``argv``; returns (wall seconds, peak RSS in MB, stdout)."""
    begin = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait4 gives the peak RSS of this child alone.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - begin
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[1:3]} failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def run_length(repo, root, minutes):
    """All measurements on a file of ``minutes``."""
    name = f"long{minutes:g}"
    write_dataset(root, name, minutes)
    classifier, meanstd = ROOT / "demo_augment.npz", ROOT / "demo_meanstd.npz"
    inverter = ROOT / "models" / "demo_augment_gen_fc8.npz"
    middle_s = str(minutes * 30)
    py = sys.executable
    invert = [py, str(repo / "invert.py"), str(classifier), str(inverter), str(root)]
    invert += [str(root / "out" / name), "--dataset", name, "--meanstd", str(meanstd)]
    invert_s, invert_mb, _ = measured([*invert, "--time-index", middle_s, "--device", "cpu"], repo)
    audio = root / "datasets" / name / "audio" / "long.ogg"
    _, _, out = measured([py, "-c", FRONT_END, str(audio), str(meanstd), middle_s], repo)
    evaluate = [py, "-m", "svdnet.evaluate", str(classifier), "--dataset", name]
    evaluate += ["--dataset-path", str(root), "--meanstd", str(meanstd), "--device", "cpu"]
    evaluate_s, evaluate_mb, _ = measured([*evaluate, "--json"], repo)
    return {
        "invert_peak_mb": round(invert_mb),
        "invert_wall_s": round(invert_s, 2),
        "invert_front_end_s": round(float(out.strip().splitlines()[-1]), 3),
        "evaluate_peak_mb": round(evaluate_mb),
        "evaluate_wall_s": round(evaluate_s, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[5, 60], help="file lengths")
    p.add_argument("--repo", type=Path, default=ROOT, help="checkout to run (default: this)")
    p.add_argument("--json", action="store_true", help="one JSON line")
    args = p.parse_args()
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        _, import_mb, _ = measured([sys.executable, "-c", IMPORTS_ONLY], repo)
        lengths = {f"{m:g}min": run_length(repo, Path(tmp), m) for m in args.minutes}
    short, long = lengths[f"{min(args.minutes):g}min"], lengths[f"{max(args.minutes):g}min"]
    growth = {
        f"{tool}_peak_growth": round(long[f"{tool}_peak_mb"] / short[f"{tool}_peak_mb"] - 1, 3)
        for tool in ("invert", "evaluate")
    }
    results = {"machine": cpu_info(), "repo": str(repo), "imports_only_peak_mb": round(import_mb)}
    results |= lengths | growth
    print(json.dumps(results) if args.json else json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
