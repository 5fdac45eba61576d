"""Every stage against golden outputs of the original Theano/Lasagne implementation."""

import numpy as np
import pytest
import torch

from inverters.model import Inverter, load_inverter
from svdnet import audio
from svdnet.model import LAYERS, SVDNet, load_classifier
from svdnet.params import read_params
from tests.conftest import REFERENCE

WEIGHTS = REFERENCE / "original_weights"
INVERTER_FILES = {
    "fc8": "jamendo_augment_gen_fc8_a26.npz",
    "fc7": "jamendo_augment_gen_fc7_a3.npz",
    "mp6": "jamendo_augment_gen_mp6_a3.npz",
    "conv5": "jamendo_augment_gen_conv5_a7.npz",
    "conv4": "jamendo_augment_gen_conv4_a25.npz",
    "mp3": "jamendo_augment_gen_mp3_a16.npz",
    "conv2": "jamendo_augment_gen_conv2_a15.npz",
    "conv1": "jamendo_augment_gen_conv1_a1.npz",
}

pytestmark = pytest.mark.skipif(
    not (REFERENCE / "lasagne_oracle.npz").is_file(),
    reason="../shared/reference (the Lasagne oracle) is not beside this checkout",
)


@pytest.fixture(scope="module")
def oracle():
    with np.load(REFERENCE / "lasagne_oracle.npz") as data:
        return dict(data)


def assert_faithful(found, expected):
    """Within 1e-4, scaled by the array's range where that exceeds 1."""
    scale = max(1.0, float(expected.max() - expected.min()))
    assert found.shape == expected.shape
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-4 * scale)


def test_spectrogram_matches_oracle(oracle):
    assert_faithful(audio.spectrogram(oracle["samples"]), oracle["spect"])


def test_mel_filterbank_matches_oracle(oracle):
    assert_faithful(audio.mel_filterbank(), oracle["filterbank"])


def test_log_mel_matches_oracle(oracle):
    assert_faithful(audio.log_mel(oracle["spect"]), oracle["mel"])


def test_standardisation_matches_oracle(oracle):
    mean, std = audio.load_meanstd(WEIGHTS / "jamendo_meanstd.npz")
    assert_faithful(audio.standardise(oracle["mel"], mean, std), oracle["norm"])


def test_whole_front_end_from_samples(oracle):
    mean, std = audio.load_meanstd(WEIGHTS / "jamendo_meanstd.npz")
    norm = audio.standardise(audio.log_mel(audio.spectrogram(oracle["samples"])), mean, std)
    assert_faithful(norm, oracle["norm"])


@pytest.mark.parametrize("layer", LAYERS)
def test_classifier_layer_matches_oracle(oracle, layer):
    model = load_classifier(REFERENCE / "classifier_random.npz")
    with torch.no_grad():
        feats = model.features(torch.from_numpy(oracle["excerpts"][:, None]), [layer])
    assert_faithful(feats[layer].numpy(), oracle[f"feat_{layer}"])


@pytest.mark.parametrize("layer", INVERTER_FILES)
def test_inverter_matches_oracle(oracle, layer):
    inverter = load_inverter(WEIGHTS / INVERTER_FILES[layer], layer)
    with torch.no_grad():
        inversion = inverter(torch.from_numpy(oracle[f"feat_{layer}"])).numpy()
    assert_faithful(inversion, oracle[f"inv_{layer}"])


@pytest.mark.parametrize("layer", INVERTER_FILES)
def test_inverter_file_round_trips_unchanged(tmp_path, layer):
    original = read_params(WEIGHTS / INVERTER_FILES[layer])
    inverter = load_inverter(WEIGHTS / INVERTER_FILES[layer], layer)
    Inverter.save_lasagne(inverter, tmp_path / "copy.npz")
    for a, b in zip(original, read_params(tmp_path / "copy.npz"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_classifier_file_round_trips_unchanged(tmp_path):
    SVDNet().load_lasagne(REFERENCE / "classifier_random.npz").save_lasagne(tmp_path / "c.npz")
    original = read_params(REFERENCE / "classifier_random.npz")
    for a, b in zip(original, read_params(tmp_path / "c.npz"), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch_size", [1, 5, 33])
def test_dense_inverters_take_any_batch_size(oracle, batch_size):
    inverter = load_inverter(WEIGHTS / INVERTER_FILES["fc8"], "fc8")
    feats = torch.from_numpy(np.resize(oracle["feat_fc8"], (batch_size, 64)))
    with torch.no_grad():
        assert inverter(feats).shape == (batch_size, 115, 80)
