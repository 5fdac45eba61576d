"""Randomised recording chain: what studio, room and release do to the stems of a song.

A real recording reaches the detector through microphones, equalisers, compressors,
saturating preamplifiers, a room, a mix bus, a lossy codec and a downmix to mono. Every
stage is drawn at random per stem (``process_stem``) or per song (``master``) so that no
fixed signature of the chain can stand in for the voice. The draws are the same for every
role except the panning: a processing choice (chorus, telephone band, distortion) must say
nothing about whether a stem sings.

Each stage is split into a frozen settings record drawn from the generator
(``draw_stem_settings``, ``draw_master_settings``) and a pure function that applies it
(``apply_stem``, ``apply_master``), so tests can fix one setting and check what it does.
All stages keep the signal time-aligned with its input: plug-in latencies are measured and
removed, band limits are zero-phase, rooms add their reflections after the direct sound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard
from scipy import signal

from svdnet.democorpus.dsp import PEAK_MAX, _db
from svdnet.democorpus.filters import _advance, _band_sos, _lowpass_sos, _mp3_latency, _zero_phase
from svdnet.democorpus.filters import measure_lag as measure_lag
from svdnet.democorpus.rooms import (
    AlgorithmicRoom,
    ConvolutionRoom,
    _algorithmic_room,
    _convolve_room,
)
from svdnet.democorpus.rooms import _room_response as _room_response

ROLES = ("voice", "lead", "band")

REFERENCE_DB = -20.0  # level (active RMS, dBFS) a stem is brought to before processing

MP3_QUALITIES = tuple(range(10))  # LAME VBR settings V0 (best) .. V9 (worst)


@dataclass(frozen=True)
class Eq:
    """Equaliser: high-pass, two shelves, peaking bands and an optional band limit.

    Frequencies in Hz, gains in dB. ``highpass_hz`` 0 means no high-pass; ``band_hz``
    ``(low, high)`` is a zero-phase band-pass (telephone, lo-fi, codec) or None.
    """

    highpass_hz: float
    low_shelf: tuple[float, float]  # (corner_hz, gain_db)
    high_shelf: tuple[float, float]
    peaks: tuple[tuple[float, float, float], ...]  # (centre_hz, gain_db, q)
    band_hz: tuple[float, float] | None


@dataclass(frozen=True)
class Dynamics:
    """Compressor; ``threshold_db`` is relative to the signal's active RMS level."""

    threshold_db: float
    ratio: float
    attack_ms: float
    release_ms: float
    makeup_db: float


@dataclass(frozen=True)
class Saturation:
    """Memoryless saturation ``kind`` in "tanh", "cubic", "tape", mixed in parallel."""

    kind: str
    drive_db: float
    bias: float  # asymmetry of "tape"; even harmonics
    mix: float  # share of the saturated signal


@dataclass(frozen=True)
class Modulation:
    """Chorus or echo (``kind`` "chorus" or "delay") on pedalboard's processors."""

    kind: str
    rate_hz: float  # chorus LFO rate
    depth: float  # chorus depth
    delay_s: float  # chorus centre delay or echo time
    feedback: float
    mix: float


@dataclass(frozen=True)
class StemSettings:
    """Everything the chain does to one stem, in processing order."""

    eq: Eq
    dynamics: Dynamics | None
    saturation: Saturation | None
    modulation: Modulation | None
    pan: float  # -1 left .. 1 right, constant-power law
    room: ConvolutionRoom | AlgorithmicRoom


@dataclass(frozen=True)
class MasterSettings:
    """Everything done to the summed mix, in processing order.

    ``limiter_db`` is the limiter's threshold below the mix's peak (None: no limiter);
    ``downmix`` the weights of left and right in the mono signal; ``codec`` an MP3 VBR
    quality (int), a low-pass cut-off in Hz (float) or None.
    """

    bus: Dynamics | None
    eq: Eq
    limiter_db: float | None
    downmix: tuple[float, float]
    codec: int | float | None
    peak_dbfs: float


def process_stem(rng: np.random.Generator, x: np.ndarray, sr: int, role: str) -> np.ndarray:
    """Record one dry stem through a random chain: EQ, dynamics, saturation, pan, room.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    x : numpy.ndarray
        Mono float stem, shape ``(n,)``.
    sr : int
        Sampling rate in Hz (at least 16000).
    role : str
        ``"voice"`` (panned near the centre), ``"lead"`` or ``"band"``.

    Returns
    -------
    numpy.ndarray
        Stereo float64, shape ``(2, n)``, time-aligned with ``x``, peak at most 0.99
        (all zeros for a silent stem).

    Examples
    --------
    >>> y = process_stem(np.random.default_rng(0), np.ones(22050), 22050, "voice")
    >>> y.shape
    (2, 22050)
    """
    return apply_stem(draw_stem_settings(rng, role, sr), x, sr)


def master(rng: np.random.Generator, stereo: np.ndarray, sr: int) -> np.ndarray:
    """Master a stereo mix at random: bus dynamics, EQ, limiter, mono downmix, codec, level.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    stereo : numpy.ndarray
        The summed mix, shape ``(2, n)``.
    sr : int
        Sampling rate in Hz (at least 16000).

    Returns
    -------
    numpy.ndarray
        Mono float64, shape ``(n,)``, time-aligned with ``stereo``, peak between
        -12 and -0.5 dBFS (all zeros for a silent mix).
    """
    return apply_master(draw_master_settings(rng, sr), stereo, sr)


# --- drawing settings -------------------------------------------------------------------


def draw_stem_settings(rng: np.random.Generator, role: str, sr: int) -> StemSettings:
    """Draw the chain of one stem; only the panning depends on ``role``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    role : str
        One of ``ROLES``.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    StemSettings
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    eq = _draw_eq(rng, sr, max_gain_db=12.0, n_peaks=(1, 3), p_band=0.12)
    dynamics = _draw_dynamics(rng, ratio=(1.5, 8.0)) if rng.random() < 0.8 else None
    saturation = _draw_saturation(rng) if rng.random() < 0.6 else None
    modulation = _draw_modulation(rng) if rng.random() < 0.2 else None
    # Singers sit near the centre of a mix; instruments go anywhere.
    pan = np.clip(rng.normal(0.0, 0.12), -0.4, 0.4) if role == "voice" else rng.uniform(-0.9, 0.9)
    room = _draw_convolution_room(rng) if rng.random() < 0.7 else _draw_algorithmic_room(rng)
    return StemSettings(eq, dynamics, saturation, modulation, float(pan), room)


def draw_master_settings(rng: np.random.Generator, sr: int) -> MasterSettings:
    """Draw the mastering, downmix and release format of one song.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all random choices.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    MasterSettings
    """
    bus = _draw_dynamics(rng, ratio=(1.2, 4.0)) if rng.random() < 0.7 else None
    eq = _draw_eq(rng, sr, max_gain_db=4.0, n_peaks=(0, 2), p_band=0.0)
    limiter_db = float(rng.uniform(0.5, 8.0)) if rng.random() < 0.6 else None
    choice = rng.random()
    if choice < 0.55:  # what ffmpeg and most decoders do
        downmix = (0.5, 0.5)
    elif choice < 0.75:  # one channel only
        downmix = (1.0, 0.0) if rng.random() < 0.5 else (0.0, 1.0)
    else:  # mid with some side leaking in, as from a mis-wired or M/S-coded source
        side = rng.uniform(-0.5, 0.5)
        downmix = (0.5 + 0.5 * side, 0.5 - 0.5 * side)
    codec = rng.random()
    if codec < 0.4:
        codec = int(rng.choice(MP3_QUALITIES))
    elif codec < 0.7:  # low-bitrate codecs cut the highs: 0.45-0.9 of Nyquist
        codec = float(rng.uniform(0.45, 0.9) * sr / 2)
    else:
        codec = None
    return MasterSettings(bus, eq, limiter_db, downmix, codec, float(rng.uniform(-12.0, -0.5)))


def _draw_eq(
    rng: np.random.Generator, sr: int, max_gain_db: float, n_peaks: tuple[int, int], p_band: float
) -> Eq:
    """Random equaliser within +-``max_gain_db``; ``p_band``: chance of a band limit."""
    top_hz = 0.4 * sr
    highpass_hz = _log_uniform(rng, 20.0, 250.0) if rng.random() < 0.6 else 0.0
    low_shelf = (_log_uniform(rng, 60.0, 400.0), rng.uniform(-max_gain_db, max_gain_db))
    high_shelf = (_log_uniform(rng, 2000.0, top_hz), rng.uniform(-max_gain_db, max_gain_db))
    peaks = tuple(
        (
            _log_uniform(rng, 100.0, top_hz),
            rng.uniform(-max_gain_db, max_gain_db),
            rng.uniform(0.5, 4),
        )
        for _ in range(rng.integers(n_peaks[0], n_peaks[1] + 1))
    )
    band_hz = None
    if rng.random() < p_band:
        if rng.random() < 0.5:  # telephone
            band_hz = (rng.uniform(250.0, 500.0), rng.uniform(2800.0, 4000.0))
        else:  # lo-fi: cheap microphone, small speaker, old tape
            band_hz = (rng.uniform(60.0, 300.0), rng.uniform(3000.0, 0.4 * sr))
    return Eq(
        highpass_hz,
        _floats(low_shelf),
        _floats(high_shelf),
        tuple(_floats(p) for p in peaks),
        None if band_hz is None else _floats(band_hz),
    )


def _draw_dynamics(rng: np.random.Generator, ratio: tuple[float, float]) -> Dynamics:
    return Dynamics(
        threshold_db=float(rng.uniform(-20.0, 3.0)),
        ratio=_log_uniform(rng, *ratio),
        attack_ms=_log_uniform(rng, 0.5, 50.0),
        release_ms=_log_uniform(rng, 30.0, 500.0),
        makeup_db=float(rng.uniform(0.0, 6.0)),
    )


def _draw_saturation(rng: np.random.Generator) -> Saturation:
    kind = str(rng.choice(["tanh", "cubic", "tape"]))
    return Saturation(
        kind,
        drive_db=float(rng.uniform(0.0, 24.0)),
        bias=float(rng.uniform(0.05, 0.3)) if kind == "tape" else 0.0,
        mix=float(rng.uniform(0.3, 1.0)),
    )


def _draw_modulation(rng: np.random.Generator) -> Modulation:
    if rng.random() < 0.5:
        return Modulation(
            "chorus",
            rate_hz=_log_uniform(rng, 0.2, 3.0),
            depth=float(rng.uniform(0.1, 0.6)),
            delay_s=float(rng.uniform(0.004, 0.02)),
            feedback=float(rng.uniform(0.0, 0.3)),
            mix=float(rng.uniform(0.2, 0.5)),
        )
    return Modulation(
        "delay",
        rate_hz=0.0,
        depth=0.0,
        delay_s=float(rng.uniform(0.08, 0.6)),
        feedback=float(rng.uniform(0.0, 0.5)),
        mix=float(rng.uniform(0.1, 0.35)),
    )


def _draw_convolution_room(rng: np.random.Generator) -> ConvolutionRoom:
    return ConvolutionRoom(
        rt60_s=_log_uniform(rng, 0.1, 2.5),
        predelay_s=float(rng.uniform(0.0, 0.03)),
        hf_ratio=float(rng.uniform(0.2, 0.9)),
        n_reflections=int(rng.integers(3, 13)),
        early_gain=float(rng.uniform(0.1, 1.0)),
        wet_gain=_db(rng.uniform(-30.0, -3.0)),
        seed=int(rng.integers(2**32)),
    )


def _draw_algorithmic_room(rng: np.random.Generator) -> AlgorithmicRoom:
    return AlgorithmicRoom(
        room_size=float(rng.uniform(0.1, 0.95)),
        damping=float(rng.uniform(0.0, 1.0)),
        width=float(rng.uniform(0.3, 1.0)),
        wet_gain=_db(rng.uniform(-30.0, -3.0)),
    )


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """Uniform on a log scale: as many octaves of frequency, or decades of time, each."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _floats(values: tuple) -> tuple:
    return tuple(float(v) for v in values)


# --- applying settings ------------------------------------------------------------------


def apply_stem(settings: StemSettings, x: np.ndarray, sr: int) -> np.ndarray:
    """Apply a drawn stem chain to a mono stem; see ``process_stem``.

    Parameters
    ----------
    settings : StemSettings
        The chain, e.g. from ``draw_stem_settings``.
    x : numpy.ndarray
        Mono float stem, shape ``(n,)``.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        Stereo float64, shape ``(2, n)``, time-aligned with ``x``, peak at most 0.99.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be mono, shape (n,), got {x.shape}")
    level = _active_rms(x, sr)
    if level == 0.0:
        return np.zeros((2, len(x)))
    # A fixed working level makes thresholds and drives mean the same for every stem.
    y = (x * (_db(REFERENCE_DB) / level)).astype(np.float32)[None]
    y = apply_eq(settings.eq, y, sr)
    if settings.dynamics is not None:
        y = _compress(settings.dynamics, y, sr, REFERENCE_DB)
    if settings.saturation is not None:
        y = apply_saturation(settings.saturation, y)
    if settings.modulation is not None:
        y = _modulate(settings.modulation, y, sr)
    stereo = _pan(y[0], settings.pan)
    if isinstance(settings.room, ConvolutionRoom):
        stereo = stereo + settings.room.wet_gain * _convolve_room(settings.room, y[0], sr)
    else:
        stereo = _algorithmic_room(settings.room, stereo, sr)
    return _limit_peak(stereo.astype(np.float64))


def apply_master(settings: MasterSettings, stereo: np.ndarray, sr: int) -> np.ndarray:
    """Apply drawn mastering to a stereo mix; see ``master``.

    Parameters
    ----------
    settings : MasterSettings
        The chain, e.g. from ``draw_master_settings``.
    stereo : numpy.ndarray
        The summed mix, shape ``(2, n)``.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        Mono float64, shape ``(n,)``, time-aligned, peak at ``settings.peak_dbfs``.
    """
    stereo = np.asarray(stereo, dtype=np.float64)
    if stereo.ndim != 2 or stereo.shape[0] != 2:
        raise ValueError(f"stereo must have shape (2, n), got {stereo.shape}")
    level = _active_rms(stereo.mean(axis=0), sr)
    if level == 0.0:
        return np.zeros(stereo.shape[1])
    y = (stereo * (_db(REFERENCE_DB) / level)).astype(np.float32)
    if settings.bus is not None:
        y = _compress(settings.bus, y, sr, REFERENCE_DB)
    y = apply_eq(settings.eq, y, sr)
    if settings.limiter_db is not None:
        peak_db = 20.0 * np.log10(max(float(np.max(np.abs(y))), 1e-12))
        y = pedalboard.Limiter(peak_db - settings.limiter_db, 100.0)(y, sr)
    mono = settings.downmix[0] * y[0].astype(np.float64) + settings.downmix[1] * y[1]
    mono = apply_codec(settings.codec, mono, sr)
    peak = float(np.max(np.abs(mono)))
    if peak == 0.0:
        return mono
    return mono * (min(_db(settings.peak_dbfs), PEAK_MAX) / peak)


def apply_eq(eq: Eq, y: np.ndarray, sr: int) -> np.ndarray:
    """Filter float32 channels ``(c, n)`` with an equaliser; phase shifts but no delay.

    Parameters
    ----------
    eq : Eq
        The equaliser.
    y : numpy.ndarray
        Float32 signal, shape ``(channels, n)``.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        Float32, same shape.
    """
    board = pedalboard.Pedalboard(
        [
            pedalboard.LowShelfFilter(eq.low_shelf[0], eq.low_shelf[1], 0.707),
            pedalboard.HighShelfFilter(eq.high_shelf[0], eq.high_shelf[1], 0.707),
        ]
        + [pedalboard.PeakFilter(hz, gain_db, q) for hz, gain_db, q in eq.peaks]
    )
    y = board(y, sr)
    if eq.highpass_hz > 0:  # second order: the usual microphone and console low cut
        sos = signal.butter(2, eq.highpass_hz, "highpass", fs=sr, output="sos")
        y = signal.sosfilt(sos, y, axis=-1).astype(np.float32)
    if eq.band_hz is not None:
        y = _zero_phase(_band_sos(eq.band_hz[0], eq.band_hz[1], sr), y).astype(np.float32)
    return y


def apply_saturation(saturation: Saturation, y: np.ndarray) -> np.ndarray:
    """Memoryless soft clipping of a signal near ``REFERENCE_DB``, mixed with the clean one.

    Parameters
    ----------
    saturation : Saturation
        Curve, drive and mix.
    y : numpy.ndarray
        Signal of any shape.

    Returns
    -------
    numpy.ndarray
        Same shape and level scale; zero stays zero.
    """
    drive = _db(saturation.drive_db) / (4.0 * _db(REFERENCE_DB))  # RMS at a quarter of 1
    u = y * drive
    if saturation.kind == "tanh":
        wet = np.tanh(u)
    elif saturation.kind == "cubic":
        u = np.clip(u, -1.0, 1.0)
        wet = 1.5 * (u - u**3 / 3.0)
    elif saturation.kind == "tape":  # biased curve: even harmonics, zero in silence
        wet = np.tanh(u + saturation.bias) - np.tanh(saturation.bias)
    else:
        raise ValueError(f"unknown saturation kind {saturation.kind!r}")
    return ((1.0 - saturation.mix) * y + saturation.mix * wet / drive).astype(y.dtype)


def apply_codec(codec: int | float | None, mono: np.ndarray, sr: int) -> np.ndarray:
    """Lossy release format: MP3 at a VBR quality, a low-pass cut-off in Hz, or nothing.

    Parameters
    ----------
    codec : int, float or None
        MP3 VBR quality 0-9 (int), low-pass cut-off in Hz (float), or None.
    mono : numpy.ndarray
        Signal, shape ``(n,)``.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        Float64, shape ``(n,)``, time-aligned with ``mono``.
    """
    if codec is None:
        return np.asarray(mono, dtype=np.float64)
    if isinstance(codec, (int, np.integer)):
        coded = pedalboard.MP3Compressor(float(codec))(mono.astype(np.float32)[None], sr)[0]
        return _advance(coded.astype(np.float64), _mp3_latency(int(codec), sr))
    # Codecs cut steeply; zero phase keeps the alignment.
    return _zero_phase(_lowpass_sos(float(codec), sr), mono)


def _compress(dynamics: Dynamics, y: np.ndarray, sr: int, level_db: float) -> np.ndarray:
    board = pedalboard.Pedalboard(
        [
            pedalboard.Compressor(
                level_db + dynamics.threshold_db,
                dynamics.ratio,
                dynamics.attack_ms,
                dynamics.release_ms,
            ),
            pedalboard.Gain(dynamics.makeup_db),
        ]
    )
    return board(y, sr)


def _modulate(modulation: Modulation, y: np.ndarray, sr: int) -> np.ndarray:
    if modulation.kind == "chorus":
        effect = pedalboard.Chorus(
            modulation.rate_hz,
            modulation.depth,
            1000.0 * modulation.delay_s,
            modulation.feedback,
            modulation.mix,
        )
    else:
        effect = pedalboard.Delay(modulation.delay_s, modulation.feedback, modulation.mix)
    return effect(y, sr)


def _pan(y: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power panning of a mono signal to ``(2, n)``."""
    angle = (pan + 1.0) * np.pi / 4.0
    return np.stack([np.cos(angle) * y, np.sin(angle) * y])


def _active_rms(x: np.ndarray, sr: int) -> float:
    """RMS over the 50-ms frames within 30 dB of the loudest: the level while playing."""
    if len(x) == 0:
        return 0.0
    n_frame = max(int(0.05 * sr), 1)
    n = len(x) - len(x) % n_frame
    frames = x[:n].reshape(-1, n_frame) if n else x[None]
    power = np.mean(frames**2, axis=1)
    loud = power[power >= np.max(power) * 1e-3]
    return float(np.sqrt(np.mean(loud))) if np.max(power) > 0 else 0.0


def _limit_peak(y: np.ndarray) -> np.ndarray:
    """Scale down only when the peak would exceed ``PEAK_MAX``; nothing is clipped."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y * (PEAK_MAX / peak) if peak > PEAK_MAX else y
