"""inverters.explain: masks, areas and losses on hand-made arrays, and the command end to end."""

import csv
import json

import numpy as np
import pytest
import torch

from inverters import explain
from inverters.metrics import min_max_scale
from inverters.model import Inverter

N_FRAMES, N_MELS = 115, 80


# --- inversion masks and their areas ------------------------------------------------------


def test_min_max_scale_maps_each_excerpt_to_0_and_1_and_a_constant_one_to_0():
    x = np.array([[[2.0, 4.0], [6.0, 10.0]], [[3.0, 3.0], [3.0, 3.0]]])
    scaled = min_max_scale(x, axis=(1, 2))
    assert scaled[0].tolist() == [[0.0, 0.25], [0.5, 1.0]]
    assert scaled[1].tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_a_mask_keeps_the_bins_whose_scaled_value_reaches_t():
    inversion = np.array([[[2.0, 4.0], [6.0, 10.0]]])  # scales to 0, 0.25, 0.5, 1
    masks = explain.inversion_masks(inversion, [0.0, 0.25, 0.3, 0.5, 1.0])
    assert masks.shape == (1, 5, 2, 2)
    assert masks[0].reshape(5, 4).tolist() == [
        [True, True, True, True],
        [False, True, True, True],
        [False, False, True, True],
        [False, False, True, True],
        [False, False, False, True],
    ]


def test_t_0_keeps_every_bin_and_t_1_only_the_maximum_bins():
    inversions = np.random.default_rng(0).standard_normal((3, N_FRAMES, N_MELS)) * 5 - 2
    inversions[1, 7, 9] = inversions[1, 50, 3] = inversions[1].max() + 1  # a tied maximum
    masks = explain.inversion_masks(inversions)
    assert masks[:, 0].all()
    for inversion, top in zip(inversions, masks[:, -1], strict=True):
        assert top.tolist() == (inversion == inversion.max()).tolist()
    assert masks[1, -1].sum() == 2


def test_mask_area_is_the_fraction_of_bins_kept():
    masks = np.zeros((2, 3, 4, 5), bool)
    masks[0, 0] = True
    masks[0, 1, :2] = True
    masks[1, 2, 0, 0] = True
    assert explain.mask_area(masks).tolist() == [[1.0, 0.5, 0.0], [0.0, 0.0, 0.05]]


def test_masks_shrink_as_t_grows():
    inversions = np.random.default_rng(1).standard_normal((4, N_FRAMES, N_MELS))
    areas = explain.mask_area(explain.inversion_masks(inversions))
    assert np.all(np.diff(areas, axis=1) <= 0)
    assert areas[:, 0].tolist() == [1.0] * 4


def test_an_explanation_keeps_the_masked_bins_and_sets_the_rest_to_the_mean_0():
    excerpts = np.arange(1, 9, dtype=np.float32).reshape(2, 2, 2)
    masks = np.array([[[[True, False], [False, True]], [[True] * 2] * 2], [[[False] * 2] * 2] * 2])
    explanations = explain.apply_masks(excerpts, masks)
    assert explanations.dtype == np.float32 and explanations.shape == (2, 2, 2, 2)
    assert explanations[0, 0].tolist() == [[1.0, 0.0], [0.0, 4.0]]
    assert explanations[0, 1].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert not explanations[1].any()


# --- random controls ----------------------------------------------------------------------


@pytest.mark.parametrize("n_kept", [0, 1, 101, 4600, N_FRAMES * N_MELS])
def test_a_random_bin_mask_keeps_exactly_the_count(n_kept):
    mask = explain.random_bin_mask(np.random.default_rng(0), n_kept, (N_FRAMES, N_MELS))
    assert mask.shape == (N_FRAMES, N_MELS) and mask.sum() == n_kept


def test_random_bins_are_spread_over_the_excerpt():
    rng = np.random.default_rng(0)
    hits = sum(explain.random_bin_mask(rng, 920, (N_FRAMES, N_MELS)) for _ in range(50))
    assert hits.sum() == 50 * 920
    # Uniform draws put a tenth of the bins into each half, not all into one corner.
    assert 0.45 < hits[: N_FRAMES // 2].sum() / hits.sum() < 0.55
    assert 0.45 < hits[:, : N_MELS // 2].sum() / hits.sum() < 0.55


def all_allowed_counts():
    """Bin counts of every rectangle of the excerpt within the aspect limit."""
    excerpt_aspect = np.log(N_FRAMES / N_MELS)
    return {
        h * w
        for h in range(1, N_FRAMES + 1)
        for w in range(1, N_MELS + 1)
        if abs(np.log(h / w) - excerpt_aspect) <= np.log(explain.MAX_ASPECT_FACTOR)
    }


def test_a_block_has_the_closest_count_of_any_compact_rectangle():
    counts = np.array(sorted(all_allowed_counts()))
    for n_kept in [1, 2, 3, 7, 97, 101, 1000, 2300, 5003, 9000, 9199, N_FRAMES * N_MELS]:
        height, width = explain.block_shape(n_kept)
        assert 1 <= height <= N_FRAMES and 1 <= width <= N_MELS
        assert abs(np.log(height / width / (N_FRAMES / N_MELS))) <= np.log(2)
        assert abs(height * width - n_kept) == np.abs(counts - n_kept).min()
    assert explain.block_shape(0) == (0, 0)
    assert explain.block_shape(2300) == (50, 46)  # exactly a quarter of the excerpt


def test_a_block_misses_the_count_by_at_most_2_percent_from_100_bins():
    for n_kept in range(100, N_FRAMES * N_MELS + 1, 37):
        height, width = explain.block_shape(n_kept)
        assert abs(height * width - n_kept) <= 0.02 * n_kept


def test_a_random_block_is_one_rectangle_inside_the_excerpt():
    rng = np.random.default_rng(0)
    corners = set()
    for n_kept in [1, 101, 2300, 9000] * 5:
        mask = explain.random_block_mask(rng, n_kept, (N_FRAMES, N_MELS))
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask.sum() == len(rows) * len(cols) == np.prod(explain.block_shape(n_kept))
        assert mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
        corners.add((rows[0], cols[0]))
    # Placed at random along both axes, not always in the same spot.
    assert len({top for top, _ in corners}) > 5 and len({left for _, left in corners}) > 5
    assert not explain.random_block_mask(rng, 0, (N_FRAMES, N_MELS)).any()


def test_random_masks_match_the_inversion_masks_counts_and_repeat_for_a_seed():
    inversions = np.random.default_rng(2).standard_normal((3, N_FRAMES, N_MELS))
    masks = explain.inversion_masks(inversions)
    first = explain.random_masks(masks, seed=5, first_instance=10)
    assert first["random_bins"].sum(axis=(2, 3)).tolist() == masks.sum(axis=(2, 3)).tolist()
    again = explain.random_masks(masks, seed=5, first_instance=10)
    other_seed = explain.random_masks(masks, seed=6, first_instance=10)
    for kind in ("random_bins", "random_blocks"):
        assert np.array_equal(first[kind], again[kind])
        assert not np.array_equal(first[kind], other_seed[kind])


def test_an_instances_random_masks_do_not_depend_on_its_batch():
    masks = explain.inversion_masks(np.random.default_rng(3).standard_normal((4, 20, 10)))
    whole = explain.random_masks(masks, seed=0, first_instance=0)
    tail = explain.random_masks(masks[2:], seed=0, first_instance=2)
    for kind in ("random_bins", "random_blocks"):
        assert np.array_equal(whole[kind][2:], tail[kind])


# --- failures and explanation loss --------------------------------------------------------


def test_an_instance_fails_where_the_decision_crosses_the_threshold():
    p_inputs = np.array([0.9, 0.2, 0.5])
    p_masked = np.array([[0.9, 0.5, 0.49], [0.2, 0.5, 0.7], [0.5, 0.0, 1.0]])
    changes = explain.decision_changes(p_inputs, p_masked, threshold=0.5)
    assert changes.tolist() == [[0, 0, 1], [0, 1, 1], [0, 1, 0]]


def test_loss_totals_and_areas_add_up_over_batches():
    totals = explain.MaskTotals(n_thresholds=2)
    for kind in explain.MASKS:
        totals.add(kind, [[1, 0], [1, 1]], [[1.0, 0.5], [1.0, 0.25]])
        totals.add(kind, [[0, 0], [1, 0]], [[1.0, 0.0], [1.0, 0.25]])
    totals.n_instances = 4
    results = totals.results()
    assert results["inversion"] == {"fails": [3, 1], "loss_pct": [75.0, 25.0], "area": [1.0, 0.25]}
    assert explain.explanation_loss(1, 8) == 12.5
    assert explain.explanation_loss(0, 0) is None


# --- the command on the tiny corpus -------------------------------------------------------


@pytest.fixture
def argv(classifier_files, tiny_dataset):
    models = classifier_files.parent / "models"
    torch.manual_seed(1)
    Inverter("fc8").eval().save_lasagne(models / "tiny_augment_gen_fc8.npz")
    dataset_path, name = tiny_dataset
    return [str(classifier_files), "--dataset", name, "--dataset-path", str(dataset_path)] + [
        "--models",
        str(models),
        "--device",
        "cpu",
        "--step",
        "40",
    ]


def test_cli_writes_csv_json_and_figures_and_prints_the_json_last(argv, tmp_path, capsys):
    out = tmp_path / "out"
    explain.main([*argv, "--threshold", "0.5", "--out", str(out), "--save-masked", "0", "3"])
    explain.main([*argv, "--threshold", "0.5", "--out", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads((out / "explanation.json").read_text())
    assert printed["threshold"] == 0.5 and printed["layer"] == "fc8"
    n = printed["n_instances"]
    assert n > 3
    inversion = printed["masks"]["inversion"]
    assert inversion["area"][0] == 1.0 and inversion["fails"][0] == 0  # t = 0 keeps all
    assert printed["masks"]["random_bins"]["area"] == pytest.approx(inversion["area"])
    for row in printed["masks"].values():
        assert len(row["loss_pct"]) == len(row["area"]) == 11
        assert all(0 <= loss <= 100 for loss in row["loss_pct"])
    with open(out / "explanation.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == explain.table_rows(printed)[0]
    assert rows[0][:5] == ["t", "instances", "fails", "loss_pct", "area"]
    assert [float(row[0]) for row in rows[1:]] == pytest.approx(np.arange(11) / 10)
    assert {int(row[1]) for row in rows[1:]} == {n}
    assert [float(row[3]) for row in rows[1:]] == pytest.approx(inversion["loss_pct"])
    for name in ("explanation.png", "masked_0.png", "masked_3.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_run_repeats_for_a_seed(argv, tmp_path):
    args = [*argv, "--threshold", "0.5", "--out", str(tmp_path), "--seed", "3"]
    first, _ = explain.explain(explain.build_parser().parse_args(args))
    again, _ = explain.explain(explain.build_parser().parse_args(args))
    assert first == again


def test_the_threshold_defaults_to_the_one_inverters_analyse_picks(argv, tmp_path, monkeypatch):
    picked = []

    def fake_valid_threshold(*args):
        picked.append(args)
        return 0.25

    monkeypatch.setattr("inverters.analyse.valid_threshold", fake_valid_threshold)
    results, _ = explain.explain(explain.build_parser().parse_args([*argv, "--out", str(tmp_path)]))
    assert results["threshold"] == 0.25 and len(picked) == 1


@pytest.mark.parametrize(
    "option",
    [["--step", "0"], ["--threshold", "nan"], ["--layer", "fc9"], ["--seed", "-1"]],
)
def test_a_bad_option_exits_2(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        explain.main([*argv, *option])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_saved_instance_beyond_the_split_is_one_error_line_and_exit_2(argv, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        explain.main([*argv, "--threshold", "0.5", "--out", str(out), "--save-masked", "999"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --save-masked 999")
    assert not (out / "explanation.json").exists()
