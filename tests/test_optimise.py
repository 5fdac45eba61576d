"""inverters.optimise: the priors' arithmetic, the optimisation and its options."""

import json

import numpy as np
import pytest
import torch

from inverters import analyse, metrics
from inverters.optimise import (
    OptimisedInverter,
    alpha_norm,
    feature_loss,
    optimise_inversion,
    total_variation,
)
from svdnet.model import HIDDEN_LAYERS, SVDNet

N_FRAMES, N_MELS = 115, 80


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return SVDNet().eval()


@pytest.fixture(scope="module")
def excerpts():
    return torch.randn(2, 1, N_FRAMES, N_MELS, generator=torch.Generator().manual_seed(1))


def features_of(classifier, excerpts, layer):
    with torch.no_grad():
        return classifier.features(excerpts, [layer])[layer]


# --- priors ---------------------------------------------------------------------------


def test_alpha_norm_sums_the_absolute_values_to_the_power_alpha():
    x = torch.tensor([[[1.0, -2.0], [0.5, 0.0]], [[3.0, 0.0], [0.0, -1.0]]])
    assert alpha_norm(x, alpha=6).tolist() == [1 + 64 + 0.5**6, 729 + 1]
    assert alpha_norm(x, alpha=1).tolist() == [3.5, 4.0]


def test_tv_with_beta_2_is_the_sum_of_squared_neighbour_differences():
    x = torch.tensor([[[0.0, 1.0, 3.0], [2.0, 2.0, 0.0]]])  # 2 frames x 3 bands
    along_time = (2 - 0) ** 2 + (2 - 1) ** 2 + (0 - 3) ** 2
    along_mel = (1 - 0) ** 2 + (3 - 1) ** 2 + (2 - 2) ** 2 + (0 - 2) ** 2
    assert total_variation(x, beta=2).tolist() == [along_time + along_mel]


def test_tv_with_beta_1_sums_the_neighbour_gradient_norms():
    x = torch.tensor([[[0.0, 3.0], [4.0, 4.0]]])
    # Bin (0, 0): dt 4, df 3 -> 5; bin (0, 1): dt 1 -> 1; bin (1, 0): df 0 -> 0.
    assert total_variation(x, beta=1).tolist() == [pytest.approx(6.0, abs=1e-3)]


def test_tv_of_a_constant_excerpt_is_0():
    assert total_variation(torch.full((1, 4, 5), 2.5), beta=1).item() == pytest.approx(0, abs=1e-6)


def test_feature_loss_is_the_squared_error_relative_to_the_target():
    target = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    features = torch.tensor([[3.0, 2.0], [1.0, 0.0]])
    assert feature_loss(features, target).tolist() == [pytest.approx(4 / 25), 0.0]


# --- optimisation ---------------------------------------------------------------------


def test_the_feature_loss_falls_over_the_steps(classifier, excerpts):
    phi0 = features_of(classifier, excerpts, "conv2")
    start = optimise_inversion(classifier, phi0, "conv2", steps=0)
    end = optimise_inversion(classifier, phi0, "conv2", steps=15)
    assert np.all(end.losses["feature"] < 0.5 * start.losses["feature"])
    total = end.losses["total"]
    assert total == pytest.approx(
        end.losses["feature"] + 1e-3 * end.losses["alpha"] + 0.05 * end.losses["tv"]
    )


def test_the_same_seed_gives_the_same_excerpts_and_another_seed_others(classifier, excerpts):
    phi0 = features_of(classifier, excerpts, "mp3")
    first, again, other = (
        optimise_inversion(classifier, phi0, "mp3", steps=3, seed=seed) for seed in (5, 5, 6)
    )
    assert np.array_equal(first.excerpts, again.excerpts)
    assert not np.allclose(first.excerpts, other.excerpts)


def test_conv1_features_give_a_closer_reconstruction_than_fc8(classifier, excerpts):
    """conv1 (64 maps of 3 x 3 filters) keeps nearly all of an excerpt; fc8 (64 numbers)
    keeps little of it, so from the same budget its reconstruction is further off."""
    inputs = excerpts[:, 0].numpy()
    result = {
        layer: optimise_inversion(
            classifier, features_of(classifier, excerpts, layer), layer, steps=10
        ).excerpts
        for layer in ("conv1", "fc8")
    }
    mse = {layer: metrics.mean_squared_error(inputs, x) for layer, x in result.items()}
    corr = {
        layer: metrics.pearson(inputs.reshape(2, -1), x.reshape(2, -1))
        for layer, x in result.items()
    }
    assert np.all(mse["conv1"] < mse["fc8"])
    assert np.all(corr["conv1"] > 0.5)
    assert np.all(corr["conv1"] > corr["fc8"] + 0.3)


def test_the_classifier_is_left_as_it_was_and_gets_no_gradient(excerpts):
    torch.manual_seed(0)
    net = SVDNet().train()
    phi0 = features_of(net.eval(), excerpts, "fc7")
    net.train()
    a = optimise_inversion(net, phi0, "fc7", steps=2)
    b = optimise_inversion(net, phi0, "fc7", steps=2)
    # Dropout would make two runs differ: the optimisation ran in eval mode.
    assert np.array_equal(a.excerpts, b.excerpts)
    assert net.training
    assert all(p.requires_grad and p.grad is None for p in net.parameters())


def test_numpy_features_are_accepted(classifier, excerpts):
    phi0 = features_of(classifier, excerpts, "fc8")
    from_tensor = optimise_inversion(classifier, phi0, "fc8", steps=2)
    from_array = optimise_inversion(classifier, phi0.numpy(), "fc8", steps=2)
    assert np.array_equal(from_tensor.excerpts, from_array.excerpts)
    assert from_array.excerpts.shape == (2, N_FRAMES, N_MELS)
    assert from_array.excerpts.dtype == np.float32


def test_an_optimised_inverter_is_called_like_a_learned_one(classifier, excerpts):
    phi0 = features_of(classifier, excerpts, "mp6")
    inverter = OptimisedInverter(classifier, "mp6", steps=2, seed=3)
    expected = optimise_inversion(classifier, phi0, "mp6", steps=2, seed=3).excerpts
    inversion = inverter(phi0)
    assert isinstance(inversion, torch.Tensor)
    assert np.array_equal(inversion.numpy(), expected)


def test_an_optimised_inverter_checks_its_options_when_made(classifier):
    with pytest.raises(ValueError, match="lambda_tv"):
        OptimisedInverter(classifier, "mp6", lambda_tv=-1.0)


# --- options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"layer": "fc9"}, "unknown layer"),
        ({"steps": -1}, "steps"),
        ({"steps": 2.0}, "steps"),
        ({"steps": True}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"alpha": 0.5}, "alpha"),
        ({"beta": 0.0}, "beta"),
        ({"lambda_alpha": -1e-3}, "lambda_alpha"),
        ({"lambda_tv": float("inf")}, "lambda_tv"),
    ],
)
def test_options_out_of_range_are_refused(classifier, option, message):
    options = {"layer": "fc8", "steps": 1} | option
    phi0 = torch.zeros(1, 64)
    with pytest.raises(ValueError, match=message):
        optimise_inversion(classifier, phi0, **options)


def test_features_of_another_layer_are_refused(classifier):
    with pytest.raises(ValueError, match=r"fc7 features must have shape \(n, 256\)"):
        optimise_inversion(classifier, torch.zeros(1, 64), "fc7", steps=1)


def test_it_optimises_when_called_under_no_grad(classifier, excerpts):
    phi0 = features_of(classifier, excerpts, "conv1")
    expected = optimise_inversion(classifier, phi0, "conv1", steps=2)
    with torch.no_grad():
        result = optimise_inversion(classifier, phi0, "conv1", steps=2)
    assert np.array_equal(result.excerpts, expected.excerpts)


# --- inverters.analyse --method optimise ------------------------------------------------


@pytest.fixture
def analyse_argv(tiny_dataset, classifier_files):
    dataset_path, name = tiny_dataset
    return [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)]


def test_analyse_picks_max_excerpts_evenly_spaced_from_first_to_last(analyse_argv):
    parse = analyse.build_parser().parse_args
    mean, std = np.full(80, -4.0), np.full(80, 2.0)
    every = np.concatenate(
        list(analyse.split_excerpts(parse([*analyse_argv, "--step", "20"]), mean, std))
    )
    picked = analyse.split_excerpts(
        parse([*analyse_argv, "--step", "20", "--method", "optimise", "--max-excerpts", "3"]),
        mean,
        std,
    )
    middle = round((len(every) - 1) / 2)
    assert np.array_equal(np.concatenate(list(picked)), every[[0, middle, len(every) - 1]])


def test_analyse_with_method_optimise_runs_end_to_end_without_inverters(
    analyse_argv, tmp_path, capsys
):
    out = tmp_path / "out"
    options = [
        "--method",
        "optimise",
        "--max-excerpts",
        "4",
        "--opt-steps",
        "2",
        "--threshold",
        "0.5",
    ]
    analyse.main(
        [*analyse_argv, *options, "--models", str(tmp_path / "none"), "--out", str(out), "--json"]
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((out / "analysis.json").read_text())
    assert (printed["method"], printed["opt_steps"], printed["n_excerpts"]) == ("optimise", 2, 4)
    assert list(printed["layers"]) == list(HIDDEN_LAYERS)
    for row in printed["layers"].values():
        assert set(analyse.METRICS) <= set(row)
        assert row["mse"] > 0 and 0 <= row["agreement"] <= 1
    assert "inverted by optimisation (2 steps)" in (out / "analysis.md").read_text()
