"""Inference speed: SVDNet throughput and per-layer inverter time, on the CPU by default.

Compares the project's classifier and inverters (as ``load_classifier``,
``load_inverter`` and the command-line tools set them up) with a plain fp32 NCHW
PyTorch forward of the same networks under glibc's default allocator, each measured
in a fresh process of the same run, on the workload of ``invert.py`` and
``svdnet.evaluate``: consecutive excerpts of one file, which
``SVDNet.sliding_features`` evaluates with shared convolutions. Independent excerpts
(a random batch) are reported too.

    python benchmarks/bench_inference.py [--threads 2] [--batch 32] [--repeats 10] [--json]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fresh import run_fresh  # noqa: E402
from benchmarks.machine import cpu_info  # noqa: E402
from inverters.model import Inverter, load_inverter  # noqa: E402
from svdnet.model import HIDDEN_LAYERS, LAYER_SHAPES, SVDNet, load_classifier  # noqa: E402
from svdnet.params import read_params  # noqa: E402


def median_seconds(fn, repeats):
    """Median wall time of ``fn()`` over ``repeats`` runs, after two warm-up runs."""
    with torch.no_grad():
        fn(), fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def consecutive_frames(batch):
    """Frames of ``batch`` consecutive excerpts, and the excerpts stacked (NCHW)."""
    frames = torch.randn(batch + 114, 80, generator=torch.Generator().manual_seed(0))
    return frames, frames.unfold(0, 115, 1).permute(0, 2, 1)[:, None].contiguous()


def bench_plain(batch, repeats, weights):
    """Excerpts per second of a plain fp32 NCHW forward."""
    plain = SVDNet().load_lasagne(weights).eval()
    x = consecutive_frames(batch)[1]
    return batch / median_seconds(lambda: plain(x), repeats)


def bench_classifier(batch, repeats, weights):
    """Excerpts per second of the project's loaded classifier, and its difference from plain."""
    plain = SVDNet().load_lasagne(weights).eval()
    ours = load_classifier(weights)
    frames, x = consecutive_frames(batch)

    def sliding():
        return ours.sliding_features(frames, ["fc9"])["fc9"][:, 0]

    with torch.no_grad():
        max_diff = max(float((plain(x) - f()).abs().max()) for f in (sliding, lambda: ours(x)))
    return {
        "classifier_excerpts_per_s": batch / median_seconds(sliding, repeats),
        "classifier_random_batch_excerpts_per_s": batch / median_seconds(lambda: ours(x), repeats),
        "classifier_max_abs_diff": max_diff,
    }


def bench_inverters(batch, repeats, folder, plain=False):
    """Milliseconds per batch for each layer's inverter: loaded as invert.py loads it, or
    (``plain``) a plain fp32 NCHW forward of the same architecture and weights."""
    ms = {}
    for layer in HIDDEN_LAYERS:
        path = folder / f"{layer}.npz"
        if plain:
            inverter = Inverter(layer).eval()
            inverter.from_lasagne(read_params(path))
        else:
            inverter = load_inverter(path, layer)
        feats = torch.randn(batch, *LAYER_SHAPES[layer])
        ms[layer] = 1000 * median_seconds(lambda: inverter(feats), repeats)  # noqa: B023
    return ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--batch", type=int, default=32, help="excerpts per batch (default: 32)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs each (default: 10)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the numbers")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    measure = (args.batch, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        SVDNet().save_lasagne(folder / "classifier.npz")
        for layer in HIDDEN_LAYERS:
            Inverter(layer).save_lasagne(folder / f"{layer}.npz")
        result = {"plain_excerpts_per_s": run_fresh(
            bench_plain, *measure, folder / "classifier.npz", threads=args.threads,
            keep_memory=False,
        )}  # fmt: skip
        ours = partial(run_fresh, threads=args.threads, keep_memory=True)
        result.update(ours(bench_classifier, *measure, folder / "classifier.npz"))
        result["plain_inverter_ms_per_batch"] = run_fresh(
            bench_inverters, *measure, folder, True, threads=args.threads, keep_memory=False
        )
        result["inverter_ms_per_batch"] = ours(bench_inverters, *measure, folder)
    result["classifier_speedup"] = (
        result["classifier_excerpts_per_s"] / result["plain_excerpts_per_s"]
    )
    result["inverter_speedup"] = {
        layer: result["plain_inverter_ms_per_batch"][layer] / ms
        for layer, ms in result["inverter_ms_per_batch"].items()
    }
    result.update(threads=args.threads, batch=args.batch, machine=cpu_info())
    print(f"classifier, plain fp32 NCHW forward: {result['plain_excerpts_per_s']:8.1f} excerpts/s")
    for key, what in (
        ("classifier_excerpts_per_s", "this project, consecutive excerpts"),
        ("classifier_random_batch_excerpts_per_s", "this project, independent excerpts"),
    ):
        ratio = result[key] / result["plain_excerpts_per_s"]
        print(f"classifier, {what}: {result[key]:8.1f} excerpts/s ({ratio:.2f}x plain)")
    print(f"  max |difference| from the plain forward: {result['classifier_max_abs_diff']:.1e}")
    for layer, ms in result["inverter_ms_per_batch"].items():
        plain_ms = result["plain_inverter_ms_per_batch"][layer]
        print(
            f"inverter {layer:5s}: {ms:8.1f} ms per batch of {args.batch} "
            f"(plain fp32 NCHW {plain_ms:.1f} ms: {result['inverter_speedup'][layer]:.2f}x)"
        )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
