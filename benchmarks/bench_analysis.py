"""Time of the layer analysis and of the optimisation baseline, against learned inversion.

Runs in this process, on a dataset in the Jamendo layout (the demo corpus by default,
synthesised on first use) with the shipped demo models:

- baseline: ``inverters.evaluate`` over the split (every layer's learned inversion of
  every excerpt, every 10 frames);
- ``inverters.analyse`` with the learned inverters over the same excerpts (target: under
  3 minutes for the demo test split on 2 CPU cores);
- ``inverters.analyse --method optimise`` on ``--excerpts`` evenly spaced excerpts
  (target: 64 excerpts, all eight layers, under 10 minutes), with its time per excerpt
  and optimisation step.

Both analyses are given the valid split's threshold, so only their own work is timed.
Fill the spectrogram cache first (any run with ``--cache-spectra``) to time the
networks rather than the decoding.

    python benchmarks/bench_analysis.py [--dataset-path .] [--cache-spectra cache] [--json]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_info  # noqa: E402
from inverters import analyse, evaluate  # noqa: E402
from inverters.optimise import STEPS  # noqa: E402
from svdnet.allocator import keep_freed_memory  # noqa: E402
from svdnet.dataset import ensure_demo_splits  # noqa: E402

THRESHOLD = "0.651"  # the demo classifier's, chosen on its valid split


def timed(fn, *args):
    """``(seconds, result)`` of ``fn(*args)``."""
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset-path", default=str(ROOT), help="folder holding datasets/demo")
    p.add_argument("--cache-spectra", help="spectrogram cache (default: none)")
    p.add_argument("--excerpts", type=int, default=64, help="excerpts optimised (default: 64)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--json", action="store_true", help="one JSON line")
    args = p.parse_args()
    keep_freed_memory()  # as the command-line tools run
    ensure_demo_splits(args.dataset_path, "demo", ("test",))
    common = ["--dataset", "demo", "--dataset-path", args.dataset_path]
    common += ["--models", str(ROOT / "models"), "--device", args.device]
    if args.cache_spectra:
        common += ["--cache-spectra", args.cache_spectra]
    classifier = str(ROOT / "demo_augment.npz")
    with tempfile.TemporaryDirectory() as out:
        parse = analyse.build_parser().parse_args
        base_s, _ = timed(
            evaluate.evaluate, evaluate.build_parser().parse_args([classifier, *common])
        )
        learned = parse([classifier, *common, "--threshold", THRESHOLD, "--out", out])
        learned_s, results = timed(analyse.analyse, learned)
        optimise = parse([classifier, *common, "--threshold", THRESHOLD, "--out", out])
        optimise.method, optimise.max_excerpts = "optimise", args.excerpts
        optimise_s, _ = timed(analyse.analyse, optimise)
    n = results["n_excerpts"]
    report = {
        "machine": cpu_info(),
        "excerpts": n,
        "evaluate_s": round(base_s, 1),
        "analyse_learned_s": round(learned_s, 1),
        "analyse_learned_vs_evaluate": round(learned_s / base_s, 2),
        "optimise_excerpts": args.excerpts,
        "optimise_steps": STEPS,
        "analyse_optimise_s": round(optimise_s, 1),
        "optimise_s_per_excerpt_step_all_layers": round(optimise_s / args.excerpts / STEPS, 4),
        "optimise_vs_learned_per_excerpt": round((optimise_s / args.excerpts) / (learned_s / n), 1),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
