#!/usr/bin/env bash
# One row of the README's corpus ablation: a corpus of its own, a classifier trained on it
# with the ablation schedule, and its accuracy on the shipped corpus's valid (threshold),
# test and heldout songs, so that every row is measured on the same songs.
# Usage: [SEED=N] scripts/ablate_corpus.sh NAME [python -m svdnet.democorpus options ...]
#   e.g. scripts/ablate_corpus.sh voices-fof --voices rosenberg hnm fof
#        scripts/ablate_corpus.sh vocalise --vocalise 0.3
#        scripts/ablate_corpus.sh level-15 --voice-level -15 6
# Writes ablations/NAME/ (corpus, demo_augment.npz, metrics.json); about 5 minutes for
# the corpus and 22 for the classifier on a 2-core CPU (10 x 400 batches, bf16).
# SEED (default 0) seeds the classifier's training, not the songs: SEED=1 on the same
# NAME reuses its corpus and writes demo_augment_seed1.npz and metrics_seed1.json, the
# spread that training alone brings to a row.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 NAME [democorpus options ...]" >&2; exit 2; }
name=$1
shift
root=ablations/$name
seed=${SEED:-0}
suffix=$([ "$seed" = 0 ] || echo "_seed$seed")
cache=cache/spectra
python=${PYTHON:-python}  # the interpreter to run
# The first 80 training songs; valid only for the training log.
"$python" -m svdnet.democorpus "$root" --splits train valid --n-train 80 --jobs 2 "$@"
"$python" -m svdnet.train "$root/demo_augment$suffix.npz" --dataset demo --dataset-path "$root" \
    --cache-spectra "$cache" --epochs 10 --epochsize 400 --seed "$seed" --bf16
"$python" -m svdnet.evaluate "$root/demo_augment$suffix.npz" --dataset demo \
    --cache-spectra "$cache" --no-baseline --json | tail -n 1 > "$root/metrics$suffix.json"
cat "$root/metrics$suffix.json"
