#!/bin/bash
# exp18: how much of a full-test difference is the seed? exp15's recipe (the same 388 annotation
# trajectories of GSM8K train[1650:2150], 1,659 states, from the shipped adapter) with one change,
# set before the run: --seed 1 (exp15: 0) for both SFT (data order, adapter init) and SWiRL (state
# order, sampling, adapter init). Planned comparisons: SWiRL vs SFT at seed 1 (a second paired test of
# the method), and each method against itself across seeds (exp15's seed-0 outcomes, borrowed:
# training and greedy evaluation are deterministic here).
# The two arms run side by side at 1 thread each, each evaluating once it has trained.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/exp18
S=.venv/bin/swirl; O=runs/exp18; R=results/exp18
export SWIRL_NUM_THREADS=1 OMP_NUM_THREADS=1
t() { local name=$1; shift; local s=$(date +%s); "$@" > $O/$name.json 2> $O/$name.log; echo "$name $(( $(date +%s) - s )) s, threads ${SWIRL_NUM_THREADS}, $(date -u +%FT%TZ)" >> $O/times.txt; cp $O/times.txt $R/times.txt; }
# exp15's data, rebuilt (4 s)
[ -e $O/ann.db ] || t annotations $S generate --from-annotations --dataset gsm8k --split train --offset 1650 --limit 500 --store $O/ann.db --json
[ -e $O/kept.jsonl ] || t filter $S filter --data $O/ann.db --mode process --judge rule --out $O/kept.jsonl --json
arm() { local m=$1; shift
  [ -e $O/$m/config.json ] || t $m $S train --data $O/kept.jsonl --model smollm2 --max-steps 48 --max-length 1024 --seed 1 --json "$@" --out $O/$m
  [ -e $O/eval/$m/summary.json ] || t eval_$m $S eval --dataset gsm8k --split test --model $O/$m --concurrency 32 --store $O/eval_traces_$m.db --report $O/eval/$m --json
  cp $O/eval/$m/results.jsonl $R/gsm8k_$m.jsonl
}
arm sft_seed1 --method sft --batch-size 5 --lr 5e-05 &
arm swirl_seed1 --method swirl --judge reference-grounded --batch-size 2 --grad-accum 2 --num-generations 8 --max-completion-length 64 --beta 0.04 --temperature 1.0 --lr 1e-05 &
wait
c() { $S eval --compare "$1" "$2" --json > $R/$3.json; }
c $R/gsm8k_sft_seed1.jsonl $R/gsm8k_swirl_seed1.jsonl swirl_seed1_vs_sft_seed1
c results/exp15/gsm8k_sft.jsonl $R/gsm8k_sft_seed1.jsonl sft_seed1_vs_sft
c results/exp15/gsm8k_swirl.jsonl $R/gsm8k_swirl_seed1.jsonl swirl_seed1_vs_swirl
c results/exp15/gsm8k_warm.jsonl $R/gsm8k_swirl_seed1.jsonl swirl_seed1_vs_warm
c results/exp15/gsm8k_warm.jsonl $R/gsm8k_sft_seed1.jsonl sft_seed1_vs_warm
echo done >> $O/times.txt; cp $O/times.txt $R/times.txt
