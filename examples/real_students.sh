#!/usr/bin/env bash
# Student A and its sparse students, distilled from the converged teacher A (multilingual-e5-small, trimmed
# vocabulary; examples/teacher_curve.py), the rows of results/real-models.json with role student / sparse_student.
#
#   bash examples/real_students.sh                       # every stage below, in this order
#   STAGES="sentiment:80 ner:80" bash examples/real_students.sh
#
# A stage task:S builds, for that task (each step skipped when its results JSON exists, resumed from its
# checkpoints when it does not):
#   1. the dense student: 6 of the teacher's 12 layers (DistilBERT-style cut), task distillation from the teacher
#      (soft labels at T=2 + gold labels);                                     -> distill_results.json
#   2. the student pruned to S% with 16x4 blocks (zeros usable by both fast layouts: 16x1 fp32 and 1x4 int8),
#      cubic schedule over the first half of the steps, distilling from the dense student; -> eval_results.json
#   3. that folder saved sparse as fp32 (16x1) and int8 (1x4) with `optimum-ro sparsify` (which checks the
#      reload), then scored on dev (and test where public) through AutoModelFor*.from_pretrained(folder,
#      trust_remote_code=True) by examples/score_model.py;                   -> score_results.json
# Each results JSON is copied to results/real-students/<model>-<task>/ (weights stay in the git-ignored runs).
#
# Budgets (batch 16, max length 128): sentiment (10,800 train reviews, 675 steps an epoch) distils 1 epoch (the
# teacher itself plateaued within its one epoch) and prunes 450 steps (two thirds of an epoch); NER (4,173 train
# sentences, 261 steps an epoch) distils 3 epochs and prunes 522 steps. On a 2-core CPU shared with other jobs one
# niced thread gives 3.5-9 s a sentiment step: ~50 min for the student, ~30 min per pruning run.
#
# BLOCK=1x4 prunes in 1x4 blocks instead (both sparse folders then keep 1x4: the fast kernels run it in fp32 and
# int8; the model names gain "-1x4"), PRUNE_EPOCHS_X=2 doubles the pruning run (the NLU pipeline's sweep: finer
# blocks and a longer recovery close most of the loss).
#
# Environment: TEACHERS (teacher A's run folders), RUNS (where the students go), DATA (the tasks' data folders),
# RESULTS (where the JSON copies go), NICE (niceness of the training processes).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
TEACHERS=${TEACHERS:-runs/teachers-converged}
RUNS=${RUNS:-runs/real-students}
DATA=${DATA:-../shared/data/ro}
RESULTS=${RESULTS:-results/real-students}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false
run() { echo "+ $*" >&2; nice -n "${NICE:-15}" "$@"; }
keep() { mkdir -p "$RESULTS/$2"; cp "$1" "$RESULTS/$2/"; }  # keep <results JSON> <model>-<task>

student() {  # student <task>: the dense 6-layer student
  local task=$1 epochs out=$RUNS/student-A-$1
  case $task in sentiment) epochs=1 ;; ner) epochs=3 ;; *) echo "no budget for task $task" >&2; return 1 ;; esac
  [ -f "$out/distill_results.json" ] || run $py -m optimum_ro.cli distill --teacher "$TEACHERS/multilingual-e5-small-$task" \
    --task "$task" --data "$DATA/$task" --student-layers 6 --epochs $epochs --batch-size 16 --max-length 128 \
    --save-steps 100 --output "$out"
  keep "$out/distill_results.json" "student-A-6L-$task"
}

sparse_students() {  # sparse_students <task> <sparsity %>: pruned, then saved sparse fp32 and int8, scored
  local task=$1 pct=$2 steps dense=$RUNS/student-A-$1 shape=${BLOCK:-16x4} tag=""
  [ "$shape" = 16x4 ] || tag="-$shape"
  local pruned=$RUNS/student-A-$1-pruned$2$tag name=student-A-6L-$2$tag
  case $task in sentiment) steps=450 ;; ner) steps=522 ;; esac
  steps=$((steps * ${PRUNE_EPOCHS_X:-1}))
  [ -f "$pruned/eval_results.json" ] || run $py -m optimum_ro.cli prune --model "$dense" --teacher "$dense" \
    --task "$task" --data "$DATA/$task" --block_shape "$shape" --target_sparsity "0.$pct" --schedule cubic \
    --start_step 0 --end_step $((steps / 2)) --pruning_frequency $((steps / 24)) --criterion magnitude \
    --max_steps $steps --batch_size 16 --learning_rate 1e-4 --max_length 128 --save_steps 50 --output "$pruned"
  keep "$pruned/eval_results.json" "$name-pruned-$task"
  local dtype block
  for dtype in float32 int8; do
    case $dtype in float32) block=16x1 ;; int8) block=1x4 ;; esac
    [ "$shape" = 16x4 ] || block=$shape
    local sparse=$pruned-$dtype
    if [ ! -f "$sparse/sparsify_results.json" ]; then  # a half-written folder is written again
      rm -rf "$sparse"
      run $py -m optimum_ro.cli sparsify --model "$pruned" --output "$sparse" --dtype $dtype --block-shape $block
    fi
    [ -f "$sparse/score_results.json" ] || run $py examples/score_model.py "$sparse" --task "$task" \
      --data "$DATA/$task" --max-length 128
    keep "$sparse/sparsify_results.json" "$name-$dtype-$task"
    keep "$sparse/score_results.json" "$name-$dtype-$task"
  done
}

for stage in ${STAGES:-sentiment:80 ner:80 sentiment:90 ner:90}; do
  task=${stage%%:*} pct=${stage##*:}
  student "$task"
  sparse_students "$task" "$pct"
done
