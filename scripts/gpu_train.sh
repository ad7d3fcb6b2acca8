#!/usr/bin/env bash
# Train a preset on a lent GPU in one command, resuming its committed checkpoint, and bring back what the
# next run needs. Everything travels in 64 MiB: the repository, the data pack and the wheels the GPU
# machine lacks (made here by `make gpu-prepare`, under the ignored runs/ folder).
#
#   here:        make gpu-prepare
#   on the GPU:  device run, carry ["runs/pack", "runs/wheels"], command:
#                bash scripts/gpu_train.sh fast-context --batch 32 --workers 7 --stop-after 8
#
# Extra arguments go to `sidejpeg train`; the rest of the settings are the checkpoint's (its stages, rates,
# average). A run in its selection stage can also take a budget: `fast --minutes 8 --batch 32`.
# Writes to $OUT: PRESET-last.json and PRESET-last.safetensors.part* (a file comes back in at most 16 MiB: `cat`
# them into PRESET-last.safetensors; commit under resources/checkpoints, or its slim form), PRESET.safetensors (the
# weights calibrated on the pack's held-out crops alone: to ship them, export the checkpoint again here with
# `--data ../shared/data/train`, which calibrates on every calibration image) and train.log.
set -euo pipefail
preset=${1:?usage: scripts/gpu_train.sh PRESET [sidejpeg train arguments]}
shift
out=${OUT:?set OUT to the folder that comes back}
python=${PYTHON:-python3}
if compgen -G "runs/wheels/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site runs/wheels/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
run=runs/gpu-$preset
rm -rf "$run" && mkdir -p "$run"
cp "resources/checkpoints/$preset-last.json" "$run/last.json"
cp "resources/checkpoints/$preset-last.safetensors" "$run/last.safetensors"
export PYTHONUNBUFFERED=1
"$python" -m engine train --preset "$preset" --data runs/pack --out "$run" --resume --channels-last \
    --checkpoint-minutes 1 "$@" 2>&1 | tee "$out/train.log"
cp "$run/last.json" "$out/$preset-last.json"
split -b 15M -d "$run/last.safetensors" "$out/$preset-last.safetensors.part"
"$python" -m engine train --preset "$preset" --data runs/pack --out "$run" --export "$out/$preset.safetensors"
