#!/usr/bin/env bash
# Invert all eight SVDNet layers for every file of the test split; plots go to results/<layer>/.
#
# Usage: ./invert_all.sh [CLASSIFIER] [MODELS_DIR] [DATASET] [DATASET_PATH] [invert.py options...]
#   CLASSIFIER    Lasagne-format SVDNet weights       (default: demo_augment.npz)
#   MODELS_DIR    folder of <classifier>_gen_<layer>[_aN].npz inverters (default: models)
#   DATASET       dataset name under DATASET_PATH/datasets/ (default: demo)
#   DATASET_PATH  folder holding datasets/            (default: this folder)
# Example with the published weights: ./invert_all.sh jamendo_augment.npz models jamendo .
# Environment: PYTHON, the interpreter to run (default: python).
set -euo pipefail
# Ctrl-C stops the whole run (status 130) instead of going on with the next layer; a
# layer's invert.py that was interrupted exits 130 itself, which set -e passes on.
trap 'exit 130' INT
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python}
classifier=${1:-$here/demo_augment.npz}
models=${2:-$here/models}
dataset=${3:-demo}
dataset_path=${4:-$here}
shift $(($# < 4 ? $# : 4))

if [ "$dataset" = demo ]; then
    # The demo test split is synthesised on first use (deterministic, about two minutes).
    "$python" -m svdnet.democorpus "$dataset_path" --splits test --jobs 2
fi

prefix=$(basename "$classifier" .npz)
for layer in fc8 fc7 mp6 conv5 conv4 mp3 conv2 conv1; do
    inverter=$(ls "$models/${prefix}_gen_${layer}.npz" "$models/${prefix}_gen_${layer}"_a*.npz \
        2>/dev/null | head -n 1 || true)
    if [ -z "$inverter" ]; then
        echo "error: $models: no inverter ${prefix}_gen_${layer}[_aN].npz" >&2
        exit 2
    fi
    "$python" "$here/invert.py" "$classifier" "$inverter" "$dataset_path" "results/$layer" \
        --layer "$layer" --dataset "$dataset" --save-arrays --audio "$@"
done
"$python" -m inverters.report results
echo "plots and sounds of all eight layers are in results/<layer>/; the page: results/index.html"
