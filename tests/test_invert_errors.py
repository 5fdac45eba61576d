"""Bad input to invert.py: one line naming the file, exit status 2, nothing written."""

import subprocess
import sys

import numpy as np
import pytest

from inverters.model import Inverter
from svdnet import audio
from tests.test_invert import ROOT, run, setup  # noqa: F401  (fixture)


def fails_cleanly(setup, capsys, *args, **kwargs):  # noqa: F811
    """Run, expect exit 2, and return the error line."""
    with pytest.raises(SystemExit) as exc:
        run(setup, *args, **kwargs)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "Traceback" not in err
    results = setup / "results"
    assert not results.exists() or not any(results.iterdir())
    return err


def test_missing_classifier(setup, capsys):  # noqa: F811
    (setup / "classifier.npz").unlink()
    assert "classifier.npz: classifier file not found" in fails_cleanly(setup, capsys)


def test_unreadable_classifier(setup, capsys):  # noqa: F811
    (setup / "classifier.npz").write_bytes(b"not a zip file")
    assert "classifier.npz: not a readable .npz" in fails_cleanly(setup, capsys)


def test_npz_that_is_not_a_lasagne_file(setup, capsys):  # noqa: F811
    np.savez(setup / "classifier.npz", weights=np.zeros(3))
    assert "not a Lasagne parameter file" in fails_cleanly(setup, capsys)


def test_classifier_with_wrong_shapes_names_expected_and_found(setup, capsys):  # noqa: F811
    params = dict(np.load(setup / "classifier.npz"))
    params["param2"] = np.zeros((16, 64, 3, 3), np.float32)
    np.savez(setup / "classifier.npz", **params)
    err = fails_cleanly(setup, capsys)
    assert "param2 has shape (16, 64, 3, 3), expected (32, 64, 3, 3)" in err


def test_inverter_with_wrong_shapes_names_expected_and_found(setup, capsys):  # noqa: F811
    params = dict(np.load(setup / "inv_fc8.npz"))
    params["param5"] = np.zeros((64, 128), np.float32)
    np.savez(setup / "inv_fc8.npz", **params)
    err = fails_cleanly(setup, capsys, "fc8")
    assert "inv_fc8.npz" in err and "(64, 128), expected (64, 256)" in err


def test_inverter_for_another_layer(setup, capsys):  # noqa: F811
    err = fails_cleanly(setup, capsys, "fc8", inverter=setup / "inv_conv5.npz")
    assert "inv_conv5.npz: this inverter is for layer conv5, not fc8" in err


def test_explicit_config_contradicting_the_file(setup, capsys):  # noqa: F811
    err = fails_cleanly(setup, capsys, "conv5", "--n_conv_layers", "2")
    assert "--n_conv_layers 2 contradicts the file, which has 3" in err


def test_unknown_layer(setup, capsys):  # noqa: F811
    Inverter("fc8").save_lasagne(setup / "inv_fc9.npz")
    assert "unknown layer 'fc9'" in fails_cleanly(setup, capsys, "fc9")


def test_missing_dataset_folder(setup, capsys):  # noqa: F811
    err = fails_cleanly(setup, capsys, "fc8", "--dataset", "nonesuch")
    assert "datasets/nonesuch: dataset folder not found" in err


def test_missing_filelist(setup, capsys):  # noqa: F811
    err = fails_cleanly(setup, capsys, "fc8", "--filelist", "valid")
    assert "filelists/valid: filelist not found" in err


def test_missing_audio_file(setup, capsys):  # noqa: F811
    with open(setup / "datasets/tiny/filelists/test", "a") as f:
        f.write("ghost.ogg\n")
    assert "ghost.ogg: audio file not found" in fails_cleanly(setup, capsys)


def test_corrupt_audio(setup, capsys):  # noqa: F811
    (setup / "datasets/tiny/audio/song0.wav").write_bytes(b"RIFF....garbage" * 10)
    assert "song0.wav: cannot decode" in fails_cleanly(setup, capsys)


def test_empty_audio(setup, capsys):  # noqa: F811
    path = setup / "datasets/tiny/audio/song0.wav"
    import soundfile as sf

    sf.write(path, np.zeros(0, np.float32), audio.SAMPLE_RATE)
    assert "song0.wav: audio file holds no samples" in fails_cleanly(setup, capsys)


def test_meanstd_with_wrong_number_of_bands(setup, capsys):  # noqa: F811
    audio.save_meanstd(setup / "meanstd.npz", np.zeros(40), np.ones(40))
    assert "meanstd.npz: meanstd holds (40,)" in fails_cleanly(setup, capsys)


def test_missing_meanstd(setup, capsys):  # noqa: F811
    (setup / "meanstd.npz").unlink()
    assert "meanstd.npz: meanstd file not found" in fails_cleanly(setup, capsys)


def test_time_index_past_the_end_of_every_file(setup, capsys):  # noqa: F811
    err = fails_cleanly(setup, capsys, "fc8", "--time-index", "60")
    assert "filelists/test: no file is long enough for 32 excerpts from 60 s" in err


def test_results_folder_that_cannot_be_created(setup, capsys):  # noqa: F811
    (setup / "results").write_text("a file where the folder should be")
    with pytest.raises(SystemExit) as exc:
        run(setup)
    assert exc.value.code == 2
    assert "results: cannot create results folder" in capsys.readouterr().err


@pytest.mark.subprocess
def test_script_exits_2_without_traceback(setup):  # noqa: F811
    argv = [sys.executable, str(ROOT / "invert.py"), str(setup / "missing.npz")]
    argv += [str(setup / "inv_fc8.npz"), str(setup), str(setup / "out")]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {setup / 'missing.npz'}: classifier file not found"
    assert not (setup / "out").exists()
