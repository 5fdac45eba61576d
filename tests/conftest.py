"""Tiny corpora in the Jamendo layout, for tests that train or evaluate on real files."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from svdnet.audio import SAMPLE_RATE

# Same examples on every run and machine, and no example database in the working tree.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.load_profile("repeatable")
# Hypothesis keeps other caches in its home folder: a temporary one, removed at exit.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

# The conformance oracle: ../shared/reference beside the checkout, or where
# SVDNET_REFERENCE points (for copies of the tree elsewhere, as mutation testing makes).
REFERENCE = Path(
    os.environ.get("SVDNET_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference")
)

# libsndfile writes and reads MP3 from version 1.1 on; older builds skip the MP3 cases.
HAS_MP3 = "MP3" in sf.available_formats()
needs_mp3 = pytest.mark.skipif(not HAS_MP3, reason="this libsndfile has no MP3 codec")

TINY_SPLITS = {"train": 3, "valid": 2, "test": 2}
TINY_DURATION_S = 6.0


def tiny_song(duration_s, rng):
    """Noise with a vibrato tone (harmonics) in its second half; returns (samples, lab text)."""
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    x = 0.05 * rng.standard_normal(len(t))
    onset_s = duration_s / 2
    f0_hz = rng.uniform(180, 400) * (1 + 0.02 * np.sin(2 * np.pi * 6 * t))
    phase = 2 * np.pi * np.cumsum(f0_hz) / SAMPLE_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    x += 0.2 * tone * (t >= onset_s)
    lab = f"0.000 {onset_s:.3f} nosing\n{onset_s:.3f} {duration_s:.3f} sing\n"
    return x.astype(np.float32), lab


def write_tiny_dataset(root, name="tiny", splits=None, duration_s=TINY_DURATION_S, seed=0):
    """Write ``root/datasets/<name>/`` with .wav files, .lab files and filelists."""
    rng = np.random.default_rng(seed)
    folder = root / "datasets" / name
    for sub in ("audio", "labels", "filelists"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for split, n_songs in (splits or TINY_SPLITS).items():
        names = [f"{split}_{i}.wav" for i in range(n_songs)]
        for file_name in names:
            samples, lab = tiny_song(duration_s, rng)
            sf.write(folder / "audio" / file_name, samples, SAMPLE_RATE)
            (folder / "labels" / file_name.replace(".wav", ".lab")).write_text(lab)
        (folder / "filelists" / split).write_text("".join(f"{n}\n" for n in names))
    return folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A tiny corpus (3 train, 2 valid, 2 test files of 6 s): ``(dataset_path, name)``."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    write_tiny_dataset(root)
    return root, "tiny"


@pytest.fixture
def make_tiny_dataset():
    """:func:`write_tiny_dataset`, for tests that need other splits than the usual three."""
    return write_tiny_dataset


@pytest.fixture
def classifier_files(tmp_path):
    """A randomly initialised classifier file and ``tiny_meanstd.npz`` beside it."""
    import torch

    from svdnet.audio import save_meanstd
    from svdnet.model import SVDNet

    torch.manual_seed(0)
    SVDNet().save_lasagne(tmp_path / "classifier.npz")
    save_meanstd(tmp_path / "tiny_meanstd.npz", np.full(80, -4.0), np.full(80, 2.0))
    return tmp_path / "classifier.npz"
