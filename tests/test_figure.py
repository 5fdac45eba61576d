"""The example figure: every layer's inversion of one excerpt, and the error bars."""

import json

import numpy as np
import pytest
import torch

from inverters import figure
from inverters.model import Inverter
from svdnet import audio
from svdnet.model import HIDDEN_LAYERS, SVDNet
from tests.test_invert import make_dataset


@pytest.fixture
def project(tmp_path):
    torch.manual_seed(0)
    make_dataset(tmp_path, "tiny", {"a.wav": 3.0})
    SVDNet().save_lasagne(tmp_path / "tiny_augment.npz")
    audio.save_meanstd(tmp_path / "tiny_meanstd.npz", np.full(80, -4.0), np.full(80, 2.0))
    (tmp_path / "models").mkdir()
    for layer in HIDDEN_LAYERS:
        Inverter(layer).eval().save_lasagne(tmp_path / "models" / f"tiny_augment_gen_{layer}.npz")
    return tmp_path


def test_figure_is_written_as_png(project):
    mse = {layer: {"mse": 0.1 * i} for i, layer in enumerate(HIDDEN_LAYERS)}
    (project / "mse.json").write_text(json.dumps(mse))
    argv = [str(project / "tiny_augment.npz"), str(project / "fig.png"), "--dataset", "tiny"]
    argv += ["--dataset-path", str(project), "--models", str(project / "models")]
    argv += ["--time-index", "0.5", "--mse", str(project / "mse.json")]
    figure.main(argv)
    assert (project / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_figure_rejects_a_start_past_the_end(project, capsys):
    argv = [str(project / "tiny_augment.npz"), str(project / "fig.png"), "--dataset", "tiny"]
    argv += ["--dataset-path", str(project), "--models", str(project / "models")]
    with pytest.raises(SystemExit) as exc:
        figure.main(argv + ["--time-index", "10"])
    assert exc.value.code == 2
    assert "a.wav: too short for an excerpt at 10 s" in capsys.readouterr().err
    assert not (project / "fig.png").exists()


def test_optimise_adds_two_rows_of_optimisation_based_inversions(project):
    from PIL import Image

    argv = [str(project / "tiny_augment.npz"), "", "--dataset", "tiny"]
    argv += ["--dataset-path", str(project), "--models", str(project / "models")]
    argv += ["--time-index", "0.5"]
    argv[1] = str(project / "learned.png")
    figure.main(argv)
    argv[1] = str(project / "both.png")
    figure.main([*argv, "--optimise", "--opt-steps", "3"])
    learned, both = Image.open(project / "learned.png"), Image.open(project / "both.png")
    assert both.width == learned.width and both.height == 2 * learned.height
