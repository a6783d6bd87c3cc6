#!/bin/bash
# exp17: two SWiRL arms on exp15's data at exp15's compute, set before the run, each evaluated on the
# full GSM8K test and compared with exp15's committed SFT and warm outcomes (training and greedy
# evaluation are deterministic here: exp15 reproduced exp14 answer for answer).
#   states8: 8 states x 4 samples per optimizer step (exp15: 4 x 8): twice the distinct states
#            (384 of 1,659) for about the same sampling and backward cost; lr 1e-5 as exp15.
#   lr2e-5:  exp15's SWiRL with lr 2e-5 (exp15: 1e-5; exp10's 3e-5 collapsed on other data).
# The two arms run side by side at 1 thread each, each evaluating once it has trained.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/exp17
S=.venv/bin/swirl; O=runs/exp17
export SWIRL_NUM_THREADS=1 OMP_NUM_THREADS=1
t() { local name=$1; shift; local s=$(date +%s); "$@" > $O/$name.json 2> $O/$name.log; echo "$name $(( $(date +%s) - s )) s, threads ${SWIRL_NUM_THREADS}, $(date -u +%FT%TZ)" >> $O/times.txt; cp $O/times.txt results/exp17/times.txt; }
# exp15's data, rebuilt (4 s)
[ -e $O/ann.db ] || t annotations $S generate --from-annotations --dataset gsm8k --split train --offset 1650 --limit 500 --store $O/ann.db --json
[ -e $O/kept.jsonl ] || t filter $S filter --data $O/ann.db --mode process --judge rule --out $O/kept.jsonl --json
common="--method swirl --data $O/kept.jsonl --model smollm2 --max-steps 48 --max-length 1024 --judge reference-grounded --max-completion-length 64 --beta 0.04 --temperature 1.0 --json"
# each arm evaluates as soon as it has trained (the states8 arm's steps take longer)
arm() { local m=$1; shift
  [ -e $O/$m/config.json ] || t $m $S train $common "$@" --out $O/$m
  [ -e $O/eval/$m/summary.json ] || t eval_$m $S eval --dataset gsm8k --split test --model $O/$m --concurrency 32 --store $O/eval_traces_$m.db --report $O/eval/$m --json
}
arm swirl_states8 --batch-size 4 --grad-accum 2 --num-generations 4 --lr 1e-05 &
arm swirl_lr2e-5 --batch-size 2 --grad-accum 2 --num-generations 8 --lr 2e-05 &
wait
for m in swirl_states8 swirl_lr2e-5; do
  cp $O/eval/$m/results.jsonl results/exp17/gsm8k_$m.jsonl
  $S eval --compare results/exp15/gsm8k_sft.jsonl results/exp17/gsm8k_$m.jsonl --json > results/exp17/${m}_vs_sft.json
  $S eval --compare results/exp15/gsm8k_warm.jsonl results/exp17/gsm8k_$m.jsonl --json > results/exp17/${m}_vs_warm.json
  $S eval --compare results/exp15/gsm8k_swirl.jsonl results/exp17/gsm8k_$m.jsonl --json > results/exp17/${m}_vs_exp15_swirl.json
done
echo done >> $O/times.txt; cp $O/times.txt results/exp17/times.txt
