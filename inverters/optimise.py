"""Optimisation-based inversion (Mahendran & Vedaldi, CVPR 2015) of SVDNet's layers.

An excerpt is reconstructed from one layer's features by gradient descent on the input,
with natural-input priors, instead of by a learned inverter. The objective, the two
priors and the optimisation loop are separate small pieces.

Cost: no training, but one forward and backward pass through the classifier up to the
layer per step (about three forward passes' work), where a learned inverter needs one
forward pass of its own, comparable in size to the classifier's. With the defaults
(50 Adam steps), 64 excerpts take about 0.7 s per step and layer on two CPU cores,
about 35 s per layer and under 5 minutes for all eight (7.4 minutes, 6.9 s per excerpt,
with the cores shared with another job): about 55 times the 0.125 s per excerpt that
``inverters.analyse`` takes with the eight learned inverters on the same machine.
"""

import math
from typing import NamedTuple

import numpy as np
import torch

from svdnet.audio import EXCERPT_FRAMES, N_MELS
from svdnet.model import HIDDEN_LAYERS, LAYER_SHAPES

# Defaults. Standardised excerpts have unit variance per band, so the priors are taken
# per bin (sums divided by frames x bands) and need no scale of their own; the defaults
# then hold for any excerpt size. For natural standardised excerpts the alpha term
# (mean |x|^6: 15 for unit Gaussian values, 36 on the demo test excerpts) times
# LAMBDA_ALPHA is about 0.04 and the TV term (mean squared neighbour difference: 0.75 on
# the demo test excerpts, 4 for white noise) times LAMBDA_TV about 0.04: a few percent
# of the starting feature loss (about 1), enough to keep values in range and to prefer
# smooth excerpts to noise that the layer cannot tell apart, not so much that they
# outweigh the features.
ALPHA = 6
BETA = 2
LAMBDA_ALPHA = 1e-3
LAMBDA_TV = 0.05
# 50 steps bring the feature loss from about 1 to 0.01 (conv1) to 0.34 (conv5) on the
# demo model's test excerpts, at an affordable cost on a CPU (see above); more steps
# lower it further at proportional cost.
STEPS = 50
LR = 0.1
# Standard deviation of the random start: small against the data's unit scale.
INIT_STD = 0.01
# Added to the squared gradient before the power beta / 2, so that beta < 2 has a finite
# gradient where neighbours are equal; subtracted again, so flat excerpts cost 0.
TV_EPS = 1e-8


DEFAULT_OPTIONS = {
    "steps": STEPS,
    "lr": LR,
    "alpha": ALPHA,
    "beta": BETA,
    "lambda_alpha": LAMBDA_ALPHA,
    "lambda_tv": LAMBDA_TV,
}


class Inversion(NamedTuple):
    """Reconstructed excerpts and the final loss terms of each.

    Attributes
    ----------
    excerpts : np.ndarray, float32, shape (n, n_frames, n_mels)
    losses : dict
        ``feature``, ``alpha``, ``tv`` (each unweighted) and ``total`` (the weighted
        sum that was minimised): np.ndarray, float64, shape (n,), of the final excerpts.
    """

    excerpts: np.ndarray
    losses: dict


def alpha_norm(x, alpha=ALPHA):
    """``||x||_alpha^alpha``, the sum of ``|x|^alpha`` over each excerpt's bins.

    Parameters
    ----------
    x : torch.Tensor, shape (n, n_frames, n_mels)
    alpha : float

    Returns
    -------
    torch.Tensor, shape (n,)

    Examples
    --------
    >>> alpha_norm(torch.tensor([[[1.0, -2.0]]]), alpha=6).tolist()
    [65.0]
    """
    return x.abs().pow(alpha).sum(dim=(1, 2))


def total_variation(x, beta=BETA):
    """``TV_beta(x)``: sum over bins of ``(dt^2 + df^2)^(beta / 2)``.

    ``dt = x[t + 1, f] - x[t, f]`` and ``df = x[t, f + 1] - x[t, f]`` are the
    differences to the next frame and the next mel band, 0 past the last one, so with
    ``beta = 2`` this is the sum of the squared differences of all neighbouring bins.

    Parameters
    ----------
    x : torch.Tensor, shape (n, n_frames, n_mels)
    beta : float, at least 1

    Returns
    -------
    torch.Tensor, shape (n,)

    Examples
    --------
    >>> total_variation(torch.tensor([[[0.0, 1.0], [2.0, 1.0]]]), beta=2).tolist()
    [6.0]
    """
    dt = torch.nn.functional.pad(x[:, 1:] - x[:, :-1], (0, 0, 0, 1))
    df = torch.nn.functional.pad(x[:, :, 1:] - x[:, :, :-1], (0, 1))
    squared = dt**2 + df**2
    if beta == 2:
        return squared.sum(dim=(1, 2))
    return ((squared + TV_EPS).pow(beta / 2) - TV_EPS ** (beta / 2)).sum(dim=(1, 2))


def feature_loss(features, target):
    """``||phi(x) - phi0||^2 / ||phi0||^2`` of each excerpt (0 / 0 counts as 0).

    Parameters
    ----------
    features, target : torch.Tensor, shape (n, ...)

    Returns
    -------
    torch.Tensor, shape (n,)
    """
    error = (features - target).pow(2).flatten(1).sum(dim=1)
    norm = target.pow(2).flatten(1).sum(dim=1)
    return error / norm.clamp_min(torch.finfo(norm.dtype).tiny)


def loss_terms(classifier, x, layer, target, alpha, beta, lambda_alpha, lambda_tv):
    """The unweighted terms and their weighted sum, per excerpt (see :class:`Inversion`)."""
    n_bins = x.shape[1] * x.shape[2]
    features = classifier.features(x[:, None], [layer])[layer]
    terms = {
        "feature": feature_loss(features, target),
        "alpha": alpha_norm(x, alpha) / n_bins,
        "tv": total_variation(x, beta) / n_bins,
    }
    terms["total"] = terms["feature"] + lambda_alpha * terms["alpha"] + lambda_tv * terms["tv"]
    return terms


def check_options(layer, steps, lr, alpha, beta, lambda_alpha, lambda_tv):
    """Raise ValueError on the first option out of range."""
    if layer not in HIDDEN_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; choose from {HIDDEN_LAYERS}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer of at least 0, got {steps!r}")
    for name, value, low in (
        ("lr", lr, 0.0),
        ("alpha", alpha, 1.0),
        ("beta", beta, 1.0),
        ("lambda_alpha", lambda_alpha, 0.0),
        ("lambda_tv", lambda_tv, 0.0),
    ):
        if not math.isfinite(value) or value < low or (name == "lr" and value == 0):
            bound = "above 0" if name == "lr" else f"at least {low:g}"
            raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def optimise_inversion(
    classifier,
    features,
    layer,
    steps=STEPS,
    lr=LR,
    alpha=ALPHA,
    beta=BETA,
    lambda_alpha=LAMBDA_ALPHA,
    lambda_tv=LAMBDA_TV,
    seed=0,
    device=None,
):
    """Excerpts whose features at ``layer`` match ``features``, found by gradient descent.

    Minimises, per excerpt, ``||phi(x) - phi0||^2 / ||phi0||^2 + lambda_alpha *
    mean(|x|^alpha) + lambda_tv * TV_beta(x) / n_bins`` with Adam, from a start drawn
    with standard deviation :data:`INIT_STD`; the batch's loss is the mean over its
    excerpts, so each excerpt's gradient is its own objective's, scaled by 1 / n. The
    classifier is used in eval mode (no dropout) and its weights get no gradient; its
    mode and ``requires_grad`` flags are restored on return.

    Parameters
    ----------
    classifier : svdnet.model.SVDNet
    features : torch.Tensor or np.ndarray, shape (n, *LAYER_SHAPES[layer])
        ``phi0``, the layer's output for the excerpts to reconstruct.
    layer : str
        One of :data:`svdnet.model.HIDDEN_LAYERS`.
    steps : int
        Gradient steps (0 returns the random start).
    lr : float
        Adam's learning rate, in standardised units per step.
    alpha, beta : float
        Exponents of the value prior and of the total variation (at least 1).
    lambda_alpha, lambda_tv : float
        Weights of the per-bin priors (see the module's defaults and why).
    seed : int
        Seed of the random start; the same seed gives the same excerpts on one device.
    device : torch.device or str, optional
        Where to optimise (default: the classifier's device).

    Returns
    -------
    Inversion
        The excerpts, on the CPU, and their final loss terms.

    Examples
    --------
    >>> from svdnet.model import SVDNet
    >>> _ = torch.manual_seed(0)
    >>> net = SVDNet().eval()
    >>> phi0 = net.features(torch.randn(2, 1, 115, 80), ["fc8"])["fc8"].detach()
    >>> result = optimise_inversion(net, phi0, "fc8", steps=2)
    >>> result.excerpts.shape, sorted(result.losses)
    ((2, 115, 80), ['alpha', 'feature', 'total', 'tv'])
    """
    check_options(layer, steps, lr, alpha, beta, lambda_alpha, lambda_tv)
    if device is None:
        device = next(classifier.parameters()).device
    target = torch.as_tensor(features, dtype=torch.float32).to(device)
    if tuple(target.shape[1:]) != LAYER_SHAPES[layer]:
        raise ValueError(
            f"{layer} features must have shape (n, {', '.join(map(str, LAYER_SHAPES[layer]))}), "
            f"got {tuple(target.shape)}"
        )
    # Drawn on the CPU: the same start whatever the device.
    generator = torch.Generator().manual_seed(seed)
    start = INIT_STD * torch.randn(
        (len(target), EXCERPT_FRAMES, N_MELS), generator=generator, dtype=torch.float32
    )
    x = start.to(device).requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    options = (layer, target, alpha, beta, lambda_alpha, lambda_tv)

    was_training = classifier.training
    wanted_grad = [p.requires_grad for p in classifier.parameters()]
    classifier.eval().requires_grad_(False)
    try:
        # Gradients are needed here even where the caller runs under torch.no_grad().
        with torch.enable_grad():
            for _ in range(steps):
                optimiser.zero_grad(set_to_none=True)
                loss_terms(classifier, x, *options)["total"].mean().backward()
                optimiser.step()
        with torch.no_grad():
            final = loss_terms(classifier, x, *options)
    finally:
        classifier.train(was_training)
        for p, wanted in zip(classifier.parameters(), wanted_grad, strict=True):
            p.requires_grad_(wanted)
    losses = {key: value.cpu().numpy().astype(np.float64) for key, value in final.items()}
    return Inversion(x.detach().cpu().numpy(), losses)


class OptimisedInverter:
    """A layer's inverter by optimisation, called like a learned one.

    ``OptimisedInverter(classifier, layer, **options)(features)`` is the tensor of
    :func:`optimise_inversion`'s excerpts, on the features' device, so learned and
    optimised inversions are swapped without glue code.

    Parameters
    ----------
    classifier : svdnet.model.SVDNet
    layer : str
    **options
        Any keyword arguments of :func:`optimise_inversion` but ``device``.
    """

    def __init__(self, classifier, layer, **options):
        check_options(layer, **{key: options.get(key, v) for key, v in DEFAULT_OPTIONS.items()})
        self.classifier, self.layer, self.options = classifier, layer, options

    def __call__(self, features):
        result = optimise_inversion(
            self.classifier, features, self.layer, device=features.device, **self.options
        )
        return torch.from_numpy(result.excerpts).to(features.device)
