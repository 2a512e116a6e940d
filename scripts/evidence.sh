#!/usr/bin/env bash
# Rerun the evidence of docs/RESULTS.md: each table's training runs, the analyses, the step-overhead
# benchmark, then the document's tables (python -m mce_train.evidence).
#
#   bash scripts/evidence.sh [TABLE ...]     TABLE: main ablation fig7 iemocap extra analysis overhead (default: all)
#
# MCE_EVIDENCE_OUT: where runs go (default runs/evidence); MCE_JOBS: runs at once (default 2, one thread each);
# MCE_EVIDENCE_EXTRA: arguments added to every run.py call (a smoke test: "--quick --seeds 0,1");
# MCE_EVIDENCE_DOC: the document whose tables are rebuilt (default docs/RESULTS.md; raw records go to
# results/ beside it), e.g. a copy for a smoke test.
# Measured on 2 CPU cores, two runs at a time (0.1; main rerun by 0.3.3 with RedCore: about 95 min):
# main 32 min, ablation 23, fig7 31, iemocap 48, extra 14,
# analysis 1, overhead 2 (about 2.5 hours in all).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
py="${MCE_VENV:-.venv}/bin/python"
out="${MCE_EVIDENCE_OUT:-runs/evidence}"
jobs="${MCE_JOBS:-2}"
doc="${MCE_EVIDENCE_DOC:-docs/RESULTS.md}"
run="$py apps/train/run.py --no-progress --cache $out/cache"
tables=("$@")
[ ${#tables[@]} -gt 0 ] || tables=(main ablation fig7 iemocap extra analysis overhead)

commands() {  # one line per training run of table $1
    case "$1" in
    main)  # image, audio missing rates
        for rates in 0.2,0.8 0.8,0.2 0.5,0.5; do
            echo "$run --benchmark avmnist --methods baseline,redcore,mce --rates $rates --seeds 0,1,2,3,4 --out $out/main/${rates/,/-}"
        done ;;
    ablation)  # Table 2's rows; row m (full MCE) is main/0.2-0.8's mce
        for row in a b c d e f g h i j k l; do
            echo "$run --benchmark avmnist --methods mce --ablation $row --rates 0.2,0.8 --seeds 0,1,2,3,4 --out $out/ablation/$row"
        done ;;
    fig7)  # every image, audio present at 10% ... 100%
        for present in 10 20 30 40 50 60 70 80 90 100; do
            fraction=$(awk "BEGIN { print $present / 100 }")
            echo "$run --benchmark avmnist --methods baseline,mce --protocol fig7 --audio-present $fraction --seeds 0,1,2 --out $out/fig7/audio$(printf %03d "$present")"
        done ;;
    iemocap)  # the paper's settings a-f over (A, L, V), written in the loader's column order (A, V, L)
        for setting in a:0.2,0.8,0.5 b:0.2,0.5,0.8 c:0.5,0.8,0.2 d:0.5,0.2,0.8 e:0.8,0.5,0.2 f:0.8,0.2,0.5; do
            echo "$run --benchmark iemocap --methods baseline,redcore,mce --rates ${setting#*:} --seeds 0,1,2 --steps 360 --out $out/iemocap/${setting%%:*}"
        done ;;
    extra)  # all-missing samples swapped (mce-data 0.1's protocol) instead of left out; RedCore at IEMOCAP's 60 epochs
        echo "$run --benchmark avmnist --methods baseline,mce --rates 0.2,0.8 --seeds 0,1,2,3,4 --all-missing swap --out $out/extra/avmnist-0.2-0.8-swap"
        echo "$run --benchmark iemocap --methods baseline,redcore --rates 0.2,0.8,0.5 --seeds 0 --out $out/extra/iemocap-a-60-epochs" ;;
    esac
}

mkdir -p "$out/logs" "$out/text"
runs=()
for table in "${tables[@]}"; do
    case "$table" in
    main | ablation | fig7 | iemocap | extra) mapfile -t -O "${#runs[@]}" runs < <(commands "$table") ;;
    analysis | overhead) ;;
    *) echo "error: unknown table $table; expected main, ablation, fig7, iemocap, extra, analysis or overhead" >&2; exit 2 ;;
    esac
done
if [ ${#runs[@]} -gt 0 ]; then
    [ "$jobs" -gt 1 ] && export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    echo "evidence: ${#runs[@]} runs, $jobs at a time; logs under $out/logs"
    one() {  # run one command line, its output to logs/<table>-<run>.log; stop xargs when it fails
        local name=${1##*--out "$out"/} log
        log="$out/logs/${name//\//-}.log"
        { time $1 $extra; } > "$log" 2>&1 || { echo "failed: $1 $extra (see $log)"; return 1; }
    }
    export -f one && export out extra="${MCE_EVIDENCE_EXTRA:-}"
    # A failed run does not stop the others; the script fails after they finish.
    printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -I{} bash -c 'one "$1"' _ {} || {
        echo "evidence: some runs failed (above); the document was not rebuilt" >&2
        exit 1
    }
fi
for table in "${tables[@]}"; do
    case "$table" in
    analysis)  # Fig. 9, Table 7 and Table 6 analogues on main/0.2-0.8, baseline vs MCE
        for kind in capability representation; do
            "$py" -m mce_train.analysis "$kind" --run "$out/main/0.2-0.8" --methods baseline,mce | grep '^|' > "$out/text/$kind.md"
        done
        "$py" -m mce_train.analysis traces --run "$out/main/0.2-0.8" --methods mce > /dev/null ;;  # factor B over training
    overhead)  # Table 8 analogue
        "$py" apps/train/perf/step_overhead.py > "$out/text/overhead-cpu.md"
        if "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
            "$py" apps/train/perf/step_overhead.py --device cuda > "$out/text/overhead-cuda.md"
        fi ;;
    esac
done
"$py" -m mce_train.evidence --runs "$out" --doc "$doc" --raw "$(dirname "$doc")/results"
