#!/bin/bash
# exp15: exp14's recipe retrained from scratch (exp14's models were lost with its machine) and
# evaluated on the full GSM8K test (1,319 questions). SFT vs SWiRL from the shipped adapter on the
# states of annotation trajectories of training questions train[1650:2150]. Each stage's wall time
# goes to runs/exp15/times.txt and is copied to results/exp15/times.txt as it finishes.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs/exp15
S=.venv/bin/swirl; O=runs/exp15
export SWIRL_NUM_THREADS=2 OMP_NUM_THREADS=2
t() { local name=$1; shift; local s=$(date +%s); "$@" > $O/$name.json 2> $O/$name.log; echo "$name $(( $(date +%s) - s )) s, threads ${SWIRL_NUM_THREADS}, $(date -u +%FT%TZ)" >> $O/times.txt; cp $O/times.txt results/exp15/times.txt; }
[ -e $O/ann.db ] || t annotations $S generate --from-annotations --dataset gsm8k --split train --offset 1650 --limit 500 --store $O/ann.db --json
[ -e $O/kept.jsonl ] || t filter $S filter --data $O/ann.db --mode process --judge rule --out $O/kept.jsonl --json
[ -e $O/sft/config.json ] || t sft $S train --method sft --data $O/kept.jsonl --model smollm2 --max-steps 48 --max-length 1024 --batch-size 5 --lr 5e-05 --out $O/sft --json
[ -e $O/swirl/config.json ] || t swirl $S train --method swirl --data $O/kept.jsonl --model smollm2 --max-steps 48 --max-length 1024 --judge reference-grounded --batch-size 2 --grad-accum 2 --num-generations 8 --max-completion-length 64 --beta 0.04 --temperature 1.0 --lr 1e-05 --out $O/swirl --json
export SWIRL_NUM_THREADS=1 OMP_NUM_THREADS=1
for m in sft swirl; do
  [ -e $O/eval/$m/summary.json ] || t eval_$m $S eval --dataset gsm8k --split test --model $O/$m --concurrency 32 --store $O/eval_traces.db --report $O/eval/$m --json &
done
wait
# the warm start (the shipped adapter) on the same questions; run in a later session, beside
# results/exp16's generation at 1 thread each
[ -e $O/eval/warm/summary.json ] || t eval_warm $S eval --dataset gsm8k --split test --model smollm2 --concurrency 32 --store $O/eval_traces_warm.db --report $O/eval/warm --json
cp $O/eval/warm/results.jsonl results/exp15/gsm8k_warm.jsonl
$S eval --compare results/exp15/gsm8k_warm.jsonl results/exp15/gsm8k_swirl.jsonl --json > results/exp15/swirl_vs_warm.json
$S eval --compare results/exp15/gsm8k_warm.jsonl results/exp15/gsm8k_sft.jsonl --json > results/exp15/sft_vs_warm.json
cp $O/eval/sft/results.jsonl results/exp15/gsm8k_sft.jsonl
cp $O/eval/swirl/results.jsonl results/exp15/gsm8k_swirl.jsonl
$S eval --compare results/exp15/gsm8k_sft.jsonl results/exp15/gsm8k_swirl.jsonl --json > results/exp15/swirl_vs_sft.json
echo done >> $O/times.txt
