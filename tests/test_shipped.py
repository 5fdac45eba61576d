"""The shipped demo files: original format, the paper's architectures, consistent shapes."""

from pathlib import Path

import numpy as np
import pytest
import torch

from inverters.model import load_inverter
from svdnet.audio import load_meanstd
from svdnet.model import HIDDEN_LAYERS, LAYER_SHAPES, load_classifier

ROOT = Path(__file__).resolve().parents[1]


def test_demo_meanstd_has_80_positive_deviations():
    mean, std = load_meanstd(ROOT / "demo_meanstd.npz")
    assert np.all(std > 0) and np.all(np.isfinite(mean))


def test_demo_classifier_outputs_probabilities():
    model = load_classifier(ROOT / "demo_augment.npz")
    with torch.no_grad():
        p = model(torch.randn(4, 1, 115, 80))
    assert p.shape == (4,) and torch.all((p > 0) & (p < 1))


@pytest.mark.parametrize("layer", HIDDEN_LAYERS)
def test_demo_inverter_has_the_published_architecture(layer):
    inverter = load_inverter(ROOT / "models" / f"demo_augment_gen_{layer}.npz", layer)
    with torch.no_grad():
        out = inverter(torch.randn(2, *LAYER_SHAPES[layer]))
    assert out.shape == (2, 115, 80) and torch.all(torch.isfinite(out))
