#!/usr/bin/env bash
# A lent GPU's few minutes in one command: the GPU measurements of issue #14 and a training run.
#
#   here:        make gpu-prepare      (data pack, wheels, and a set of JPEGs + sidecars written on this CPU)
#   on the GPU:  device run, carry ["runs/pack", "runs/wheels", "runs/xdev-cpu"], command:
#                bash scripts/gpu_session.sh
#
# 1. restore throughput of a 24-megapixel photo per preset and precision (benchmarks/gpu_throughput.py);
# 2. training step time of `paper` at the batch of its first GPU run and at a larger one, plain and
#    compiled (benchmarks/train_step.py);
# 3. for TRAIN_MINUTES (default 4.5), the committed `fast-context` campaign resumed
#    (resources/checkpoints/fast-context-last.*; resources/models/README.md) with its own settings, at 32 crops a
#    step instead of the CPU's 8, stopping with a checkpoint of its last step (`--stop-after`); meanwhile the
#    cross-device check (benchmarks/cross_device.py): the sidecars written on this machine's CPU decoded with
#    CUDA, and 50 written with CUDA decoded on the CPU (and brought back, to be decoded on another machine's CPU).
# Every stage has its own time limit and the script goes on after a failure. Brings back in $OUT:
# results.tar (logs, JSON, the CUDA-written sidecars) and the run's last checkpoint, split into 15 MiB parts.
# Back here: cat fast-context-last.safetensors.part* > runs/fast-context/last.safetensors, fast-context-last.json
# from results.tar beside it as last.json; commit its slim form (scripts/slim_checkpoint.py) and go on with the
# CPU campaign from it, giving `--batch 4` again under torchrun (the checkpoint now says 32).
set -uo pipefail
out=${OUT:?set OUT to the folder that comes back}
python=${PYTHON:-python3}
minutes=${TRAIN_MINUTES:-4.5}
work=$(mktemp -d)
export PYTHONUNBUFFERED=1

bring_back() {
    tar -cf "$out/results.tar" -C "$work" --exclude='runs' .
}
stage() {  # stage NAME SECONDS COMMAND...: run, log, and bring back what exists so far
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date +%T))" | tee -a "$work/session.log"
    timeout "$limit" "$@" > "$work/$name.log" 2>&1
    echo "== $name: exit $? ($(date +%T))" | tee -a "$work/session.log"
    tail -n 25 "$work/$name.log"
    bring_back
}

if compgen -G "runs/wheels/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site runs/wheels/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  "$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'; } \
    > "$work/machine.txt" 2>&1
cat "$work/machine.txt"

stage throughput 100 "$python" -m benchmarks.gpu_throughput --out "$work/throughput.json"
stage train_step_16 45 "$python" -m benchmarks.train_step --preset paper --data runs/pack --batch 16 \
    --variants bf16+channels_last --out "$work/train_step_16.json"
stage train_step_64 90 "$python" -m benchmarks.train_step --preset paper --data runs/pack --batch 64 \
    --variants bf16+channels_last,bf16+channels_last+compile --out "$work/train_step_64.json"

train() {  # train NAME [sidejpeg train arguments]: NAME's committed checkpoint resumed for TRAIN_MINUTES
    local name=$1 run=$work/runs/$1
    shift
    mkdir -p "$run"
    cp "resources/checkpoints/$name-last.json" "$run/last.json"
    cp "resources/checkpoints/$name-last.safetensors" "$run/last.safetensors"
    timeout "$(awk "BEGIN {print int($minutes * 60 + 120)}")" "$python" -m engine train --data runs/pack \
        --out "$run" --resume --stop-after "$minutes" --batch 32 --workers 7 --checkpoint-minutes 1 "$@" \
        > "$work/train-$name.log" 2>&1
    echo "train $name: exit $?" >> "$work/session.log"
}
train fast-context &
stage cross_device_cuda 120 "$python" -m benchmarks.cross_device check runs/xdev-cpu --device cuda \
    --out "$work/xdev-cpu-on-cuda.json"
stage cross_device_write 120 "$python" -m benchmarks.cross_device write "$work/xdev-cuda" --device cuda
stage cross_device_cpu 120 "$python" -m benchmarks.cross_device check "$work/xdev-cuda" --device cpu \
    --out "$work/xdev-cuda-on-cpu.json"
wait
tail -n 4 "$work/train-fast-context.log"
if [ -f "$work/runs/fast-context/last.json" ]; then
    cp "$work/runs/fast-context/last.json" "$work/fast-context-last.json"
    split -b 15M -d "$work/runs/fast-context/last.safetensors" "$out/fast-context-last.safetensors.part"
fi
bring_back
ls -la "$out"
