#!/usr/bin/env bash
# The exact commands that produced the shipped demo files, on a 2-core CPU:
#   demo_meanstd.npz, demo_augment.npz, models/demo_augment_gen_<layer>.npz
# Usage: scripts/train_demo.sh [corpus|classifier|evaluate|LAYER ...]   (default: all steps)
# The schedules are shortened from the papers' (20 x 2000 batches for SVDNet, 30 full
# epochs for each inverter) so that everything trains on a CPU in about two hours;
# with a GPU, drop --epochs/--epochsize/--max-excerpts to train with the full recipes.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=cache/spectra
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(corpus classifier evaluate conv1 conv2 mp3 conv4 conv5 mp6 fc7 fc8)

# Every inverter sees the same 38,400 training excerpts (1,200 batches): 12 epochs of
# 3,200 for the convolutional layers, 6 of 6,400 for the others.
invert() {  # LAYER EPOCHS MAX_EXCERPTS
    python -m inverters.train demo_augment.npz "models/demo_augment_gen_$1.npz" --layer "$1" \
        --dataset demo --cache-spectra "$cache" --epochs "$2" --max-excerpts "$3" --seed 0
}

for step in "${steps[@]}"; do
    case $step in
        corpus) python -m svdnet.democorpus . --splits train valid test ;;
        classifier)
            python -m svdnet.train demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --epochs 10 --epochsize 300 --seed 0 --bf16 ;;
        evaluate)
            python -m svdnet.evaluate demo_augment.npz --dataset demo --cache-spectra "$cache"
            python -m inverters.evaluate demo_augment.npz --dataset demo --cache-spectra "$cache" ;;
        conv1) invert conv1 12 3200 ;;
        conv2) invert conv2 12 3200 ;;
        mp3) invert mp3 12 3200 ;;
        conv4) invert conv4 12 3200 ;;
        conv5) invert conv5 12 3200 ;;
        mp6) invert mp6 6 6400 ;;
        fc7) invert fc7 6 6400 ;;
        fc8) invert fc8 6 6400 ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
