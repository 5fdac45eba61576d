"""A report page for a run of the batch script: every file's input and eight inversions.

``python -m inverters.report RESULTS_DIR`` reads what ``invert.py --save-arrays --audio``
left in ``RESULTS_DIR/<layer>/`` (as ``invert_all.sh`` runs it) and writes
``RESULTS_DIR/index.html``: one row per file with the input and the inversion of every
layer as thumbnails (each linking to the full-size plot), an audio player under each
(the original excerpt and the input through the sonification chain under the input, the
sonified inversion under each layer), the prediction, the excerpt's time and each
inversion's error. Where ``inverters.analyse`` wrote ``RESULTS_DIR/analysis/``, its table
and figure follow. The page is static: relative links, no script, nothing from the
network.
"""

import argparse
import html
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inverters.plot import save_thumbnail
from svdnet.audio import HOP_LENGTH, SAMPLE_RATE
from svdnet.cli import run_cli
from svdnet.errors import InputError
from svdnet.files import write_text
from svdnet.model import HIDDEN_LAYERS

PLOT_NAME = re.compile(r"plot_fileid_(\d+)_excerptid_(\d+)_pred_([\d.]+)\.npz")
THUMBNAILS = "thumbnails"
STYLE = """
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
td, th { padding: 4px; text-align: center; vertical-align: top; font-size: 0.8em; }
tr:nth-child(even) { background: #f4f4f4; }
img { width: 120px; display: block; margin: auto; }
audio { width: 120px; display: block; margin: 2px auto; }
.analysis img { width: 600px; }
.label { display: block; color: #555; }
"""


def find_runs(results):
    """``{file_id: {layer: npz path}}`` of every saved inversion under ``results/<layer>/``."""
    runs = {}
    for layer in HIDDEN_LAYERS:
        for path in sorted((Path(results) / layer).glob("plot_fileid_*.npz")):
            match = PLOT_NAME.fullmatch(path.name)
            if match:
                runs.setdefault(int(match.group(1)), {})[layer] = path
    if not runs:
        raise InputError(
            f"{results}: no <layer>/plot_fileid_*.npz found (run invert.py with --save-arrays)"
        )
    return dict(sorted(runs.items()))


def _link(page_dir, path):
    return html.escape(Path(path).relative_to(page_dir).as_posix(), quote=True)


def _audio(page_dir, path, label):
    if not path.is_file():
        return ""
    src = _link(page_dir, path)
    audio = f'<audio controls preload="metadata" src="{src}" title="{label}"></audio>'
    return f'<span class="label">{label}</span>{audio}' if label else audio


def _full_plot(npz):
    """The plot beside a saved inversion, whatever its format."""
    for suffix in (".png", ".svg", ".pdf"):
        if npz.with_suffix(suffix).is_file():
            return npz.with_suffix(suffix)
    return npz


def _cell(page_dir, image, full, sounds, caption):
    img = f'<a href="{_link(page_dir, full)}"><img src="{_link(page_dir, image)}" alt=""></a>'
    return f"<td>{img}{''.join(sounds)}{caption}</td>"


def file_row(page_dir, file_id, layers):
    """The table row of one file: its input and every layer's inversion."""
    first = next(iter(layers.values()))
    saved = np.load(first)
    excerpt = saved["input"]
    name = str(saved["file_name"]) if "file_name" in saved.files else f"file {file_id}"
    start_s = int(saved["excerpt_idx"]) * HOP_LENGTH / SAMPLE_RATE
    thumbs = page_dir / THUMBNAILS
    input_png = save_thumbnail(thumbs / f"{file_id}_input.png", excerpt)
    stem = first.with_suffix("")
    sounds = [
        _audio(page_dir, Path(f"{stem}_original.wav"), "original"),
        _audio(page_dir, Path(f"{stem}_input.wav"), "sonified"),
    ]
    head = (
        f"<th>{html.escape(name)}<br>{start_s:.2f} s<br>P = {float(saved['prediction']):.2f}</th>"
    )
    cells = [head, _cell(page_dir, input_png, _full_plot(first), sounds, "")]
    for layer in HIDDEN_LAYERS:
        if layer not in layers:
            cells.append("<td>-</td>")
            continue
        inversion = np.load(layers[layer])["inversion"]
        png = save_thumbnail(thumbs / f"{file_id}_{layer}.png", inversion)
        error = float(np.mean((inversion - excerpt) ** 2))
        sound = [_audio(page_dir, layers[layer].with_suffix(".wav"), "")]
        cells.append(_cell(page_dir, png, _full_plot(layers[layer]), sound, f"mse {error:.3f}"))
    return "<tr>" + "".join(cells) + "</tr>"


def analysis_section(page_dir):
    """The table and figure of ``inverters.analyse`` where it ran into ``analysis/``."""
    folder = page_dir / "analysis"
    parts = []
    if (folder / "analysis.md").is_file():
        parts.append(f"<pre>{html.escape((folder / 'analysis.md').read_text())}</pre>")
    if (folder / "analysis.png").is_file():
        parts.append(f'<img src="{_link(page_dir, folder / "analysis.png")}" alt="">')
    if not parts:
        return ""
    return '<h2>What each layer keeps</h2><div class="analysis">' + "".join(parts) + "</div>"


def write_report(results):
    """Write ``results/index.html`` (and its thumbnails); returns its path."""
    page_dir = Path(results)
    runs = find_runs(page_dir)
    rows = [
        file_row(page_dir, file_id, layers)
        for file_id, layers in tqdm(runs.items(), desc="report", unit="file")
    ]
    header = "<tr><th>file</th><th>input</th>" + "".join(f"<th>{x}</th>" for x in HIDDEN_LAYERS)
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Inversions of {len(rows)} files</title><style>{STYLE}</style></head><body>"
        f"<h1>Inversions of all eight layers, {len(rows)} files</h1>"
        "<p>Each image: the standardised log-mel excerpt (115 frames, 80 mel bands), "
        "min-max scaled; click for the full plot. mse: mean squared error of the inversion "
        "in the standardised space.</p>"
        f"<table>{header}</tr>{''.join(rows)}</table>{analysis_section(page_dir)}</body></html>"
    )
    out = page_dir / "index.html"
    write_text(out, page)
    return out


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m inverters.report",
        description="Write RESULTS_DIR/index.html: every file's input and inversions, "
        "with their sound, from a run of invert.py --save-arrays --audio per layer.",
    )
    p.add_argument("results", type=Path, help="folder holding <layer>/ of invert.py results")
    return p


def main(argv=None):
    """Command-line entry point (see ``--help``)."""
    args = build_parser().parse_args(argv)
    out = run_cli(write_report, args.results)
    print(f"report: {out}")


if __name__ == "__main__":
    main()
