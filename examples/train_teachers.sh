#!/usr/bin/env bash
# Fine-tune one teacher on the five Romanian tasks with the budgets used in results/teachers.md
# (sized for a shared 2-core CPU; a bigger budget = more steps, see results/teachers.md).
# usage: bash examples/train_teachers.sh <model folder or name> <run name> [extra finetune args]
set -euo pipefail
model=$1; name=$2; shift 2
py=${PYTHON:-.venv/bin/python}
tasks=${TASKS:-"sentiment dialect ner pos sts"}
for task in $tasks; do
  case $task in
    sts) budget="--max-steps 150 --max-length 64" ;;
    pos|ner) budget="--max-steps 120 --max-length 128" ;;
    *) budget="--max-steps 100 --max-length 128" ;;
  esac
  $py -m optimum_ro.cli finetune --model "$model" --task $task --output runs/teachers/$name/$task \
      --batch-size 16 --learning-rate ${LR:-4e-5} --warmup-ratio 0.1 --eval-splits validation $budget "$@"
done
