#!/usr/bin/env bash
# The exact commands that produced the shipped demo files, on a 2-core CPU:
#   demo_meanstd.npz, demo_augment.npz, models/demo_augment_gen_<layer>.npz
# and the README's numbers and figures: docs/demo_*.json, docs/demo_*.png
# Usage: scripts/train_demo.sh [corpus|classifier|LAYER|evaluate|analysis ...]
#   (default: all steps)
# SVDNet gets its paper's 20 x 2000 batches; the inverters' schedules are shortened from
# theirs (30 full epochs each): on a 2-core AMD EPYC the 400 training songs took 10.5
# minutes, the classifier about 240 (three runs, the second and third with --resume, part
# of it beside other jobs; 7.5 to 8.5 minutes an epoch alone) and the eight inverters 27
# (evaluate: 7); with a GPU, drop --epochs/--max-excerpts to train the
# inverters with the full recipe (--resume continues an interrupted run, also with a
# larger --epochs: epoch k's learning rate does not depend on it).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=cache/spectra
python=${PYTHON:-python}  # the interpreter to run
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(corpus classifier conv1 conv2 mp3 conv4 conv5 mp6 fc7 fc8 evaluate analysis)

# Every inverter sees 28,800 training excerpts (900 batches): 12 epochs of 2,400 for the
# convolutional and first pooling layers, 6 of 4,800 for the others.
invert() {  # LAYER EPOCHS MAX_EXCERPTS
    "$python" -m inverters.train demo_augment.npz "models/demo_augment_gen_$1.npz" --layer "$1" \
        --dataset demo --cache-spectra "$cache" --epochs "$2" --max-excerpts "$3" --seed 0 --bf16 \
        --valid-step 500  # validation only reports (it leaves the weights alone): keep it short
}

for step in "${steps[@]}"; do
    case $step in
        corpus)  # train, valid and speakers need festival (see svdnet.democorpus.speech),
            # heldout Debian's fluid-soundfont-gm; the songs of valid, heldout and speakers
            # are committed, test and sampled need pip alone
            "$python" -m svdnet.democorpus . --splits train valid test speakers sampled --jobs 2
            if [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
                "$python" -m svdnet.democorpus . --splits heldout --jobs 2
            fi ;;
        classifier)
            "$python" -m svdnet.train demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --epochs 20 --epochsize 2000 --seed 0 --bf16 ;;
        evaluate)  # the last line of --json output is the JSON object
            "$python" -m svdnet.evaluate demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --json | tail -n 1 > docs/demo_classifier_metrics.json
            "$python" -m inverters.evaluate demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --json | tail -n 1 > docs/demo_inversion_mse.json
            "$python" -m inverters.figure demo_augment.npz docs/demo_inversions.png --dataset demo \
                --cache-spectra "$cache" --mse docs/demo_inversion_mse.json ;;
        analysis)  # the layer analysis and the explanations (README, "What each layer keeps")
            "$python" -m inverters.analyse demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --out results/analysis --json
            "$python" -m inverters.analyse demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --method optimise --out results/analysis_optimise --json
            "$python" -m inverters.explain demo_augment.npz --dataset demo --cache-spectra "$cache" \
                --out results/explain --json
            cp results/analysis/analysis.json docs/demo_analysis.json
            cp results/analysis/analysis.png docs/demo_analysis.png
            cp results/explain/explanation.png docs/demo_explanation.png ;;
        conv1) invert conv1 12 2400 ;;
        conv2) invert conv2 12 2400 ;;
        mp3) invert mp3 12 2400 ;;
        conv4) invert conv4 12 2400 ;;
        conv5) invert conv5 12 2400 ;;
        mp6) invert mp6 6 4800 ;;
        fc7) invert fc7 6 4800 ;;
        fc8) invert fc8 6 4800 ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
