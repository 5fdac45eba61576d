"""SVDNet: layer outputs, the shared-work pass over consecutive excerpts, weight files."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from svdnet.errors import InputError
from svdnet.model import LAYER_SHAPES, LAYERS, SVDNet
from svdnet.params import read_params, write_params
from tests.test_conformance import REFERENCE, assert_faithful


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    net = SVDNet().eval()
    with torch.no_grad():  # nonzero biases, so a misplaced bias would show
        for op in net.weighted_ops():
            op.bias.normal_(0, 0.1)
    return net


def stacked_excerpts(frames):
    return frames.unfold(0, 115, 1).permute(0, 2, 1)[:, None].contiguous()


def test_every_layer_has_its_documented_shape(model):
    with torch.no_grad():
        feats = model.features(torch.zeros(2, 1, 115, 80), LAYERS)
    assert {name: tuple(t.shape[1:]) for name, t in feats.items()} == LAYER_SHAPES


@settings(max_examples=12, deadline=None)
@given(n_excerpts=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_sliding_features_equal_features_of_stacked_excerpts(model, n_excerpts, seed):
    frames = torch.randn(n_excerpts + 114, 80, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        sliding = model.sliding_features(frames, LAYERS)
        stacked = model.features(stacked_excerpts(frames), LAYERS)
    for name in LAYERS:
        torch.testing.assert_close(sliding[name], stacked[name], rtol=0, atol=1e-5)


def test_sliding_features_returns_only_what_was_asked(model):
    with torch.no_grad():
        feats = model.sliding_features(torch.randn(120, 80), ["conv4", "fc8"])
    assert set(feats) == {"conv4", "fc8"} and feats["fc8"].shape == (6, 64)


def test_sliding_features_needs_one_whole_excerpt(model):
    with pytest.raises(ValueError, match="at least 115 frames"):
        model.sliding_features(torch.zeros(114, 80), ["fc9"])


@pytest.mark.skipif(not (REFERENCE / "lasagne_oracle.npz").is_file(), reason="no ../shared")
def test_sliding_features_match_the_oracle():
    oracle = np.load(REFERENCE / "lasagne_oracle.npz")
    model = SVDNet().load_lasagne(REFERENCE / "classifier_random.npz").eval()
    with torch.no_grad():  # the oracle's excerpts start at frames 0, 5 and 10
        feats = model.sliding_features(torch.from_numpy(oracle["norm"][:125]), LAYERS)
    for name in LAYERS:
        assert_faithful(feats[name][[0, 5, 10]].numpy(), oracle[f"feat_{name}"])


def test_sliding_features_of_one_layer_alone_are_those_of_all_layers_together(model):
    frames = torch.randn(131, 80)
    with torch.no_grad():
        together = model.sliding_features(frames, LAYERS)
        for name in LAYERS:
            alone = model.sliding_features(frames, [name])
            assert list(alone) == [name] and torch.equal(alone[name], together[name])


def test_unknown_layer_is_rejected(model):
    with pytest.raises(ValueError, match="unknown layer"):
        model.features(torch.zeros(1, 1, 115, 80), ["fc10"])


def test_forward_is_the_sigmoid_of_the_logits(model):
    x = torch.randn(3, 1, 115, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x), torch.sigmoid(model.logits(x)))
        torch.testing.assert_close(model(x), model.features(x, ["fc9"])["fc9"][:, 0])


def test_saved_file_has_lasagne_order_and_layout(model, tmp_path):
    model.save_lasagne(tmp_path / "c.npz")
    params = read_params(tmp_path / "c.npz")
    assert [p.shape for p in params] == model.lasagne_shapes()
    assert params[8].shape == (4928, 256)  # dense W stored (in, out)
    conv1 = model.stages["conv1"][0].weight.detach().numpy()
    np.testing.assert_array_equal(params[0], conv1[..., ::-1, ::-1])  # Lasagne convolves
    reloaded = SVDNet().load_lasagne(tmp_path / "c.npz").eval()
    x = torch.randn(2, 1, 115, 80)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), model(x), rtol=0, atol=0)


def test_wrong_number_of_arrays_names_both_counts(tmp_path):
    write_params(tmp_path / "short.npz", [np.zeros((64, 1, 3, 3))])
    with pytest.raises(InputError, match="holds 1 arrays, expected 14"):
        SVDNet().load_lasagne(tmp_path / "short.npz")


def test_training_drops_half_of_every_dense_layers_inputs_and_doubles_the_rest():
    torch.manual_seed(0)
    model = SVDNet()
    inputs = torch.randn(8, 1, 115, 80)
    seen = {"eval": [], "train": []}
    mode = "eval"
    for op in model.modules():
        if isinstance(op, torch.nn.Linear):
            op.register_forward_pre_hook(lambda op, args: seen[mode].append(args[0].detach()))
    with torch.no_grad():
        model.eval()(inputs)
        mode = "train"
        model.train()(inputs)
    assert len(seen["train"]) == 3  # fc7, fc8 and the output layer
    for dropped in seen["train"]:
        assert 0.45 < float((dropped == 0).float().mean()) < 0.55
    # The first dense layer's inputs differ from evaluation only by the dropout.
    kept = seen["train"][0] != 0
    torch.testing.assert_close(seen["train"][0][kept], 2 * seen["eval"][0][kept])
