#!/usr/bin/env bash
# What a candidate's weights must show before they ship: the quality targets (issues #14, #17) and "never worse
# than the JPEG" at every quality, subsampling and encoder, worst image included. Measures the weights installed
# as resources/models/PRESET.safetensors (export a run there first: `sidejpeg train --out RUN --export
# resources/models/PRESET.safetensors --blind-floor STEP --data ../shared/data/train`; the shipped floors: fast
# 8.421875, fast-context 9.25) the way the shipped weights were measured (resources/models/README.md), Kodak and
# LIVE1 side by side, one thread each:
#
#   bash scripts/ship_check.sh PRESET TAG [CHECK...]  CHECK among rd safety threshold edge fine sweep (default: all)
#
#   rd         q10-40, Pillow 4:2:0, side at lambdas 64/256/1024, every image      -> eval/{kodak,live1}-TAG
#   safety     q50-98, Pillow at each subsampling and jpegli, side at 64, 8 images -> eval/safety-*-TAG
#   threshold  q91-94 where blind restoration stops, blind only, 8 images          -> eval/threshold-*-TAG
#   edge       q88-92, the finest JPEGs the shipped floors restore, blind only, every image -> eval/edge-*-TAG
#   fine       q93-100, blind only, every image                                    -> eval/fine-*-TAG
#   sweep      q1-5, 60 and 85, side at 64, 8 images                               -> eval/sweep-*-TAG
#
# Each check prints its BD-rates or its safety table (mean (worst image) change against the JPEG) at the end.
# On this 2-core machine all of it takes hours: run it in the background (nohup) and the training paused.
set -euo pipefail
preset=${1:?usage: scripts/ship_check.sh PRESET TAG [CHECK...]}
tag=${2:?usage: scripts/ship_check.sh PRESET TAG [CHECK...]}
shift 2
checks=${*:-rd safety threshold edge fine sweep}
sidejpeg=${SIDEJPEG:-.venv/bin/sidejpeg}
test_sets=${TEST_SETS:-../shared/data/test}
all_settings=(--encoder pillow,jpegli --subsampling 4:2:0,4:2:2,4:4:4)
[ -f "resources/models/$preset.safetensors" ] || { echo "no weights at resources/models/$preset.safetensors" >&2; exit 2; }

both() {  # both NAME [sidejpeg eval arguments]: Kodak and LIVE1 at once, into eval/NAME-kodak... / eval/...
    local name=$1 pids=() set
    shift
    for set in kodak live1; do
        OMP_NUM_THREADS=1 "$sidejpeg" eval --data "$test_sets/$set" --preset "$preset" \
            --out "eval/${name/SET/$set}" "$@" > "eval/${name/SET/$set}.log" 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || { echo "an evaluation failed: eval/${name/SET/*}.log" >&2; exit 1; }
    done
}
table() {  # table NAME: the safety table of both test sets' runs
    "$sidejpeg" summarise "eval/${1/SET/kodak}/rd.json" "eval/${1/SET/live1}/rd.json" --safety-table
}

mkdir -p eval
for check in $checks; do
    echo "== $check ($(date +%T))"
    case $check in
        rd)
            both "SET-$tag" --qualities 10,20,30,40 --lambdas 64,256,1024 --methods jpeg,blind,side
            tail -n 12 "eval/kodak-$tag.log" "eval/live1-$tag.log" ;;
        safety)
            both "safety-SET-$tag" --limit 8 --qualities 50,75,90,95,98 --lambdas 64 --methods jpeg,blind,side \
                "${all_settings[@]}"
            table "safety-SET-$tag" ;;
        threshold)
            both "threshold-SET-$tag" --limit 8 --qualities 91,92,93,94 --methods jpeg,blind "${all_settings[@]}"
            table "threshold-SET-$tag" ;;
        edge)
            both "edge-SET-$tag" --qualities 88,89,90,91,92 --methods jpeg,blind "${all_settings[@]}"
            table "edge-SET-$tag" ;;
        fine)
            both "fine-SET-$tag" --qualities 93,95,97,98,99,100 --methods jpeg,blind "${all_settings[@]}"
            table "fine-SET-$tag" ;;
        sweep)
            both "sweep-SET-$tag" --limit 8 --qualities 1,3,5,60,85 --lambdas 64 --methods jpeg,blind,side \
                "${all_settings[@]}"
            table "sweep-SET-$tag" ;;
        *)
            echo "unknown check $check (rd, safety, threshold, edge, fine, sweep)" >&2
            exit 2 ;;
    esac
done
echo "== done ($(date +%T))"
