"""Rooms of the demo corpus's recording chain: a synthetic impulse response or a reverb.

A ``ConvolutionRoom`` convolves a stem with a stereo impulse response built from its
settings (sparse early reflections, a noise tail that decays faster in the highs); an
``AlgorithmicRoom`` runs pedalboard's Freeverb-style reverb. ``chain`` draws the settings
and adds the room after the direct sound, so the stem stays time-aligned.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pedalboard
from scipy import signal

from svdnet.democorpus.filters import _band_sos


@dataclass(frozen=True)
class ConvolutionRoom:
    """Synthetic stereo room: early reflections and a noise tail decaying faster in the highs.

    ``seed`` makes the impulse response; ``hf_ratio`` is RT60 at the top band over RT60
    at the bottom band.
    """

    rt60_s: float
    predelay_s: float
    hf_ratio: float
    n_reflections: int
    early_gain: float  # energy of the early reflections relative to the tail
    wet_gain: float  # reverberant over direct amplitude; 0 leaves the dry signal
    seed: int


@dataclass(frozen=True)
class AlgorithmicRoom:
    """pedalboard's Freeverb-style reverb; ``wet_gain`` 0 leaves the dry signal."""

    room_size: float
    damping: float
    width: float
    wet_gain: float


def _algorithmic_room(room: AlgorithmicRoom, stereo: np.ndarray, sr: int) -> np.ndarray:
    # pedalboard's reverb scales its dry path by 2, hence dry_level 0.5 for unity; its tail
    # comes out about twice as strong as a unit-energy response, hence half the wet gain.
    reverb = pedalboard.Reverb(room.room_size, room.damping, 0.5 * room.wet_gain, 0.5, room.width)
    return reverb(stereo.astype(np.float32), sr)


def _convolve_room(room: ConvolutionRoom, y: np.ndarray, sr: int) -> np.ndarray:
    """The reverberant part (no direct sound) of a mono signal in a room, ``(2, n)``."""
    response = _room_response(room, sr)
    wet = signal.oaconvolve(y.astype(np.float32)[None], response, axes=1)
    return wet[:, : len(y)]


def _room_response(room: ConvolutionRoom, sr: int) -> np.ndarray:
    """Stereo impulse response without the direct sound, unit energy per channel, float32.

    The tail is noise split into bands, each decaying with its own RT60 (high frequencies
    die first, as walls and air absorb them); early reflections are sparse signed taps.
    """
    rng = np.random.default_rng(room.seed)
    n_pre = int(room.predelay_s * sr)
    n = n_pre + max(int(room.rt60_s * sr), 16)
    t_s = np.arange(n - n_pre) / sr
    edges_hz = [0.0, 400.0, 1500.0, 4000.0, sr / 2]
    out = np.zeros((2, n))
    for channel in range(2):
        tail = np.zeros(len(t_s))
        for band, (low_hz, high_hz) in enumerate(itertools.pairwise(edges_hz)):
            rt60_s = room.rt60_s * room.hf_ratio ** (band / (len(edges_hz) - 2))
            noise = signal.sosfilt(_band_sos(low_hz, high_hz, sr), rng.standard_normal(len(t_s)))
            tail += noise * np.exp(-6.9 * t_s / rt60_s)
        onset = np.minimum(t_s / 0.01, 1.0)  # the diffuse tail builds up over ~10 ms
        tail *= onset / np.sqrt(np.sum((tail * onset) ** 2))
        early = np.zeros(len(t_s))
        taps = rng.integers(1, min(int(0.06 * sr), len(t_s)), room.n_reflections)
        np.add.at(early, taps, rng.choice([-1.0, 1.0], len(taps)) * np.exp(-taps / (0.03 * sr)))
        early *= np.sqrt(room.early_gain / max(np.sum(early**2), 1e-12))
        response = tail + early
        out[channel, n_pre:] = response / np.sqrt(np.sum(response**2))
    return out.astype(np.float32)
