#!/usr/bin/env bash
# A check on human voices that no training song has: 40 songs of the test profile sung by
# the speech family's four held-out speakers (Finnish, Catalan, Russian), beside the
# shipped valid songs (for the threshold), then a classifier's accuracy on them.
# Needs Debian's festival and its voices (python -c 'from svdnet.democorpus.speech import
# debian_packages; print(*debian_packages())'); about 3 minutes for the songs on 2 cores.
# Usage: scripts/heldout_speakers.sh [CLASSIFIER [MEANSTD]]   (default: the shipped ones)
set -euo pipefail
cd "$(dirname "$0")/.."
classifier=${1:-demo_augment.npz}
meanstd=${2:-demo_meanstd.npz}
root=ablations/heldout-speakers
python=${PYTHON:-python}  # the interpreter to run
"$python" -m svdnet.democorpus . --splits valid --jobs 2  # the shipped valid songs
"$python" -m svdnet.democorpus "$root" --splits test --voices speech_heldout --jobs 2
demo=datasets/demo
for kind in audio labels; do
    for file in "$demo/$kind"/demo_valid_*; do
        ln -sf "$PWD/$file" "$root/$demo/$kind/"
    done
done
cp "$demo/filelists/valid" "$root/$demo/filelists/"
cp "$demo/settings/valid.json" "$root/$demo/settings/"
"$python" -m svdnet.evaluate "$classifier" --meanstd "$meanstd" --dataset demo \
    --dataset-path "$root" --cache-spectra cache/spectra --no-baseline --splits test --json |
    tail -n 1
