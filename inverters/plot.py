"""Figures: an input excerpt above its inversion, as in the paper; metrics across layers."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import librosa.display  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402

from inverters.metrics import min_max_scale  # noqa: E402
from svdnet.audio import FMAX_HZ, FMIN_HZ, HOP_LENGTH, SAMPLE_RATE  # noqa: E402
from svdnet.errors import InputError  # noqa: E402
from svdnet.files import atomic_output, check_output_file  # noqa: E402


def check_figure_path(path):
    """Raise an :class:`InputError` before any work if a figure cannot be written to ``path``.

    The suffix picks the format, so it must be one matplotlib writes (.png, .pdf, .svg, ...).
    """
    formats = FigureCanvasBase.get_supported_filetypes()
    if Path(path).suffix[1:].lower() not in formats:
        raise InputError(
            f"{path}: unknown figure format {Path(path).suffix!r}; use one of "
            + ", ".join(f".{ext}" for ext in sorted(formats))
        )
    check_output_file(path, "figure")


def _panel(ax, excerpt, title, mask=None):
    # Bins outside ``mask`` are left blank (NaN is not drawn).
    scaled = min_max_scale(excerpt)
    if mask is not None:
        scaled = np.where(mask, scaled, np.nan)
    img = librosa.display.specshow(
        scaled.T,  # specshow wants (bands, frames)
        sr=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        x_axis="time",
        y_axis="mel",
        fmin=FMIN_HZ,
        fmax=FMAX_HZ,
        cmap="coolwarm",
        ax=ax,
    )
    ax.set_title(title)
    return img


def plot_inversion(path, excerpt, inversion, layer, title=None):
    """Write the input excerpt above its inversion, each min-max scaled to [0, 1].

    Parameters
    ----------
    path : str or Path
        Output file; its suffix (.pdf, .png, .svg) picks the format. Written atomically.
    excerpt, inversion : np.ndarray, shape (115, 80)
        Time first, as the networks see them.
    layer : str
        Names the lower panel ("<layer> inversion").
    title : str, optional
        Above both panels (the file, excerpt time, layer and prediction).
    """
    path = Path(path)
    fig, axes = plt.subplots(2, 1, figsize=(6, 6), sharex=True, layout="constrained")
    if title:
        fig.suptitle(title, fontsize="medium")
    _panel(axes[0], excerpt, "input mel spectrogram")
    axes[0].set_xlabel("")
    img = _panel(axes[1], inversion, f"{layer} inversion")
    fig.colorbar(img, ax=axes, format="%.1f")
    _save_atomically(fig, path)


def plot_all_layers(path, excerpt, inversions, test_mse=None, title=None, optimised=None):
    """One excerpt and its inversion from every layer, plus per-layer test errors.

    Parameters
    ----------
    path : str or Path
        Output file (.png or .pdf), written atomically.
    excerpt : np.ndarray, shape (115, 80)
    inversions : dict
        Layer name -> inversion (115, 80), in network order.
    test_mse : dict, optional
        Layer name -> test-split mean squared error, drawn as a bar chart.
    title : str, optional
    optimised : dict, optional
        Layer name -> optimisation-based inversion, drawn in two more rows below.
    """
    path = Path(path)
    n_cols = 5  # input and eight layers fill two rows, with room for the error bars
    panels = [("input mel spectrogram", excerpt)]
    panels += [(f"{layer} inversion", inv) for layer, inv in inversions.items()]
    panels += [None] * (2 * n_cols - len(panels))
    if optimised:
        panels += [(f"{layer} optimised", inv) for layer, inv in optimised.items()]
    n_rows = 2 * -(-len(panels) // (2 * n_cols))
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols, 3.2 * n_rows), layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels, strict=False):
        if panel is not None:
            ax.axis("on")
            _panel(ax, panel[1], panel[0])
    if test_mse:
        ax = axes.flat[2 * n_cols - 1]
        ax.axis("on")
        ax.bar(list(test_mse), [r for r in test_mse.values()], color="tab:gray")
        ax.set_title("test-split MSE per layer")
        ax.tick_params(axis="x", rotation=60)
    if title:
        fig.suptitle(title)
    _save_atomically(fig, path)


def plot_layer_metrics(path, layers, metrics, classes):
    """Small multiples: each metric across the layers, for all excerpts and per class.

    Parameters
    ----------
    path : str or Path
        Output file; its suffix picks the format. Written atomically.
    layers : dict
        Layer name -> {metric: value or None, "by_class": {class: {metric: ...}}}, in
        network order, as ``inverters.analyse`` computes them.
    metrics : sequence of str
        One panel each.
    classes : sequence of str
        Drawn dashed beside the line of all excerpts.
    """
    names = list(layers)
    n_cols = 3
    n_rows = -(-len(metrics) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(4 * n_cols, 3 * n_rows), sharex=True, layout="constrained"
    )
    x = np.arange(len(names))

    def values(rows, metric):  # None (no excerpts) becomes a gap in the line
        return [np.nan if row[metric] is None else row[metric] for row in rows]

    for ax, metric in zip(axes.flat, metrics, strict=False):
        ax.plot(x, values(layers.values(), metric), "o-", color="black", label="all")
        for cls in classes:
            rows = [layers[name]["by_class"][cls] for name in names]
            ax.plot(x, values(rows, metric), ".--", label=cls)
        ax.set_title(metric)
        ax.set_xticks(x, names, rotation=60)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    axes.flat[0].legend()
    _save_atomically(fig, path)


def plot_masked(path, excerpt, inversion, masks, layer):
    """An excerpt, its inversion, and the excerpt as each inversion mask keeps it.

    Parameters
    ----------
    path : str or Path
        Output file; its suffix picks the format. Written atomically.
    excerpt, inversion : np.ndarray, shape (115, 80)
        Time first, as the networks see them; each drawn min-max scaled.
    masks : dict
        Threshold t -> bool mask (115, 80); the removed bins are drawn blank.
    layer : str
        Names the inversion panel.
    """
    n_cols = 2 + len(masks)
    fig, axes = plt.subplots(
        1, n_cols, figsize=(3.2 * n_cols, 3.4), sharey=True, layout="constrained"
    )
    _panel(axes[0], excerpt, "input mel spectrogram")
    _panel(axes[1], inversion, f"{layer} inversion")
    for ax, (t, mask) in zip(axes[2:], masks.items(), strict=True):
        img = _panel(ax, excerpt, f"t = {t:.1f}, area {np.mean(mask):.2f}", mask)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.colorbar(img, ax=axes, format="%.1f")
    _save_atomically(fig, path)


def plot_explanation_loss(path, results):
    """Explanation loss (%) against mean kept area, one curve per kind of mask.

    The points of the inversion masks are labelled with their threshold t; each random
    control's point of the same t lies at (about) the same area.

    Parameters
    ----------
    path : str or Path
        Output file; its suffix picks the format. Written atomically.
    results : dict
        As ``inverters.explain`` computes them: ``thresholds``, ``layer`` and, under
        ``masks``, each kind's ``loss_pct`` and ``area`` per threshold.
    """
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    for kind, row in results["masks"].items():
        ax.plot(row["area"], row["loss_pct"], "o-", label=kind.replace("_", " "))
    inversion = results["masks"]["inversion"]
    for t, area, loss in zip(
        results["thresholds"], inversion["area"], inversion["loss_pct"], strict=True
    ):
        ax.annotate(f"{t:.1f}", (area, loss), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("average area kept")
    ax.set_ylabel("explanation loss (%)")
    ax.set_title(
        f"{results['layer']} inversion masks vs random masks ({results['n_instances']} instances)"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    _save_atomically(fig, path)


def _save_atomically(fig, path):
    try:
        with atomic_output(path) as f:
            fig.savefig(f, format=Path(path).suffix[1:])
    finally:
        plt.close(fig)


def save_thumbnail(path, excerpt, size_px=(160, 112)):
    """A small PNG of an excerpt (min-max scaled, low bands at the bottom, no axes).

    Returns
    -------
    Path
        ``path``, written atomically.
    """
    width, height = size_px
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(min_max_scale(excerpt).T, origin="lower", aspect="auto", cmap="coolwarm")
    ax.set_axis_off()
    _save_atomically(fig, path)
    return Path(path)
