#!/usr/bin/env bash
# Fine-tune one teacher on the five Romanian tasks with the budgets used in results/archive/teachers.md
# (sized for a shared 2-core CPU; a bigger budget = more steps, see results/archive/teachers.md).
# usage: [STEPS_SCALE=3] [TASKS="pos ner"] bash examples/train_teachers.sh <model> <run name> [extra finetune args]
set -euo pipefail
model=$1; name=$2; shift 2
py=${PYTHON:-.venv/bin/python}
scale=${STEPS_SCALE:-1}
for task in ${TASKS:-sentiment dialect ner pos sts}; do
  case $task in
    sts) steps=200; len=64 ;;
    ner) steps=150; len=128 ;;
    pos) steps=120; len=128 ;;
    *) steps=80; len=128 ;;
  esac
  $py -m optimum_ro.cli finetune --model "$model" --task $task --output runs/teachers/$name/$task \
      --batch-size 16 --learning-rate ${LR:-5e-5} --warmup-ratio 0.1 --eval-splits validation \
      --max-steps $((steps * scale)) --max-length $len "$@"
done
