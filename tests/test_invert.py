"""invert.py end to end: plots, saved arrays, start times, the seed commands."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from inverters import cli
from inverters.inversion import excerpt_index
from inverters.model import Inverter
from svdnet import audio, decode
from svdnet.model import HIDDEN_LAYERS, SVDNet
from tests.conftest import HAS_MP3, REFERENCE

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = REFERENCE / "original_weights"
FORMATS = {"wav": ("WAV", "FLOAT"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}
if HAS_MP3:
    FORMATS["mp3"] = ("MP3", "MPEG_LAYER_III")


def write_song(path, duration_s, seed):
    """A few seconds of a gliding tone in noise, in the format the suffix names."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    f0_hz = 300 + 100 * np.sin(2 * np.pi * 0.5 * t)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f0_hz) / audio.SAMPLE_RATE)
    x += 0.03 * rng.standard_normal(len(t))
    fmt, subtype = FORMATS[path.suffix[1:]]
    sf.write(path, x.astype(np.float32), audio.SAMPLE_RATE, format=fmt, subtype=subtype)


def make_dataset(root, name, songs):
    """Jamendo layout with ``songs`` = {file name: duration_s}; returns the dataset folder."""
    folder = root / "datasets" / name
    (folder / "audio").mkdir(parents=True)
    (folder / "filelists").mkdir()
    for seed, (file_name, duration_s) in enumerate(songs.items()):
        write_song(folder / "audio" / file_name, duration_s, seed)
    (folder / "filelists" / "test").write_text("".join(f"{n}\n" for n in songs))
    return folder


@pytest.fixture
def setup(tmp_path):
    """A four-format dataset, a random classifier, fc8 and conv5 inverters, a meanstd file."""
    torch.manual_seed(0)
    songs = {f"song{i}.{ext}": 4.0 for i, ext in enumerate(FORMATS)}
    make_dataset(tmp_path, "tiny", songs)
    SVDNet().save_lasagne(tmp_path / "classifier.npz")
    for layer in ("fc8", "conv5"):
        Inverter(layer).eval().save_lasagne(tmp_path / f"inv_{layer}.npz")
    audio.save_meanstd(tmp_path / "meanstd.npz", np.full(80, -4.0), np.full(80, 2.0))
    return tmp_path


def run(setup, layer="fc8", *extra, inverter=None):
    """invert.py's main in-process, on the fixture's files."""
    argv = [
        str(setup / "classifier.npz"),
        str(inverter or setup / f"inv_{layer}.npz"),
        str(setup),
        str(setup / "results"),
        "--dataset",
        "tiny",
        "--meanstd",
        str(setup / "meanstd.npz"),
        "--layer",
        layer,
        *extra,
    ]
    cli.main(argv)
    return sorted((setup / "results").iterdir())


def test_time_index_selects_the_papers_excerpts():
    assert excerpt_index(1.4285) == 100
    assert excerpt_index(33) == 2310


def test_plots_and_arrays_for_every_audio_format(setup):
    written = run(setup, "conv5", "--time-index", "0.5", "--save-arrays", "--format", "png")
    plots = [p for p in written if p.suffix == ".png"]
    assert len(plots) == 4 and len(written) == 8
    for plot in plots:
        assert re.fullmatch(r"plot_fileid_[0-3]_excerptid_35_pred_\d\.\d\d\.png", plot.name)
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_arrays_match_an_independent_forward_pass(setup):
    run(setup, "conv5", "--time-index", "0.5", "--save-arrays")
    saved = np.load(next((setup / "results").glob("plot_fileid_0_*.npz")))
    samples = decode.load_audio(setup / "datasets/tiny/audio/song0.wav")
    mean, std = audio.load_meanstd(setup / "meanstd.npz")
    norm = audio.standardise(audio.log_mel(audio.spectrogram(samples)), mean, std)
    np.testing.assert_allclose(saved["input"], norm[35:150], atol=1e-5)

    classifier = SVDNet().load_lasagne(setup / "classifier.npz").eval()
    inverter = Inverter("conv5")
    inverter.from_lasagne(np.load(setup / "inv_conv5.npz").values())
    inverter.eval()
    with torch.no_grad():
        x = torch.from_numpy(norm[35:150][None, None])
        feats = classifier.features(x, ["conv5", "fc9"])
        expected = inverter(feats["conv5"])[0].numpy()
    np.testing.assert_allclose(saved["inversion"], expected, atol=1e-5)
    assert saved["prediction"] == pytest.approx(float(feats["fc9"][0, 0]), abs=1e-6)
    assert int(saved["excerpt_idx"]) == 35 and str(saved["layer"]) == "conv5"
    assert saved["input"].shape == saved["inversion"].shape == (115, 80)


def test_default_format_is_pdf(setup):
    written = run(setup, "fc8", "--time-index", "0")
    assert len(written) == 4
    assert all(p.suffix == ".pdf" and p.read_bytes()[:5] == b"%PDF-" for p in written)


def test_file_too_short_for_its_start_is_skipped_and_others_plotted(setup, capsys):
    write_song(setup / "datasets/tiny/audio/song0.wav", 1.5, seed=9)
    written = run(setup, "fc8", "--time-index", "0.2")
    assert len(written) == 3
    assert "song0.wav" in capsys.readouterr().err


def test_random_start_times_are_integers_10_to_19_and_seeded(tmp_path):
    make_dataset(tmp_path, "long", {"a.wav": 21.5, "b.flac": 21.5})
    torch.manual_seed(0)
    SVDNet().save_lasagne(tmp_path / "classifier.npz")
    Inverter("fc8").eval().save_lasagne(tmp_path / "inv_fc8.npz")
    audio.save_meanstd(tmp_path / "meanstd.npz", np.zeros(80), np.ones(80))
    names = []
    for results in ("r1", "r2"):
        argv = [str(tmp_path / f) for f in ("classifier.npz", "inv_fc8.npz")]
        argv += [str(tmp_path), str(tmp_path / results), "--dataset", "long", "--seed", "3"]
        cli.main(argv + ["--meanstd", str(tmp_path / "meanstd.npz")])
        names.append(sorted(p.name for p in (tmp_path / results).iterdir()))
    assert names[0] == names[1] and len(names[0]) == 2
    for name in names[0]:
        excerpt_idx = int(re.search(r"excerptid_(\d+)_", name).group(1))
        assert excerpt_idx % 70 == 0 and 700 <= excerpt_idx <= 1330


@pytest.mark.skipif(not WEIGHTS.is_dir(), reason="../shared/reference is not beside this checkout")
def test_the_eight_seed_commands_run_unchanged(tmp_path, monkeypatch):
    work = tmp_path / "ismir"
    (work / "models").mkdir(parents=True)
    make_dataset(tmp_path / "Deep_inversion", "jamendo", {"song.ogg": 21.5})
    shutil.copy(WEIGHTS.parent / "classifier_random.npz", work / "jamendo_augment.npz")
    for f in WEIGHTS.glob("jamendo_augment_gen_*.npz"):
        (work / "models" / f.name).symlink_to(f)
    monkeypatch.setattr(cli, "PROJECT_DIR", WEIGHTS)  # where jamendo_meanstd.npz lies
    monkeypatch.chdir(work)
    seed_commands = """
    fc8 jamendo_augment_gen_fc8_a26.npz
    fc7 jamendo_augment_gen_fc7_a3.npz
    mp6 jamendo_augment_gen_mp6_a3.npz
    conv5 jamendo_augment_gen_conv5_a7.npz --n_conv_layers 3 --n_conv_filters 64
    conv4 jamendo_augment_gen_conv4_a25.npz --n_conv_layers 3 --n_conv_filters 128
    mp3 jamendo_augment_gen_mp3_a16.npz --n_conv_layers 4 --n_conv_filters 32
    conv2 jamendo_augment_gen_conv2_a15.npz --n_conv_layers 3 --n_conv_filters 32
    conv1 jamendo_augment_gen_conv1_a1.npz --n_conv_layers 1 --n_conv_filters 64
    """
    for line in seed_commands.strip().splitlines():
        layer, weights, *options = line.split()
        command = f"jamendo_augment.npz models/{weights} ../Deep_inversion ./results_{layer} "
        command += f"--layer '{layer}' " + " ".join(options)
        cli.main(shlex.split(command))
        assert len(list((work / f"results_{layer}").glob("plot_fileid_0_*.pdf"))) == 1


@pytest.mark.subprocess
def test_invert_py_runs_as_a_script(setup):
    argv = [sys.executable, str(ROOT / "invert.py"), str(setup / "classifier.npz")]
    argv += [str(setup / "inv_fc8.npz"), str(setup), str(setup / "out"), "--dataset", "tiny"]
    argv += ["--meanstd", str(setup / "meanstd.npz"), "--time-index", "0"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=setup)
    assert proc.returncode == 0, proc.stderr
    assert len(list((setup / "out").glob("*.pdf"))) == 4


@pytest.mark.subprocess
def test_invert_all_writes_every_layer_into_its_own_folder(tmp_path):
    torch.manual_seed(0)
    make_dataset(tmp_path, "tiny", {"a.ogg": 21.5})
    SVDNet().save_lasagne(tmp_path / "tiny_augment.npz")
    (tmp_path / "models").mkdir()
    for layer in HIDDEN_LAYERS:
        Inverter(layer).eval().save_lasagne(tmp_path / "models" / f"tiny_augment_gen_{layer}.npz")
    audio.save_meanstd(tmp_path / "meanstd.npz", np.full(80, -4.0), np.full(80, 2.0))
    argv = ["bash", str(ROOT / "invert_all.sh"), str(tmp_path / "tiny_augment.npz")]
    argv += [
        str(tmp_path / "models"),
        "tiny",
        str(tmp_path),
        "--meanstd",
        str(tmp_path / "meanstd.npz"),
    ]
    env = os.environ | {"PYTHON": sys.executable}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    for layer in HIDDEN_LAYERS:
        assert len(list((tmp_path / "results" / layer).glob("plot_fileid_0_*.pdf"))) == 1
