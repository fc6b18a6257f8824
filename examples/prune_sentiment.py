"""Block-prune a sentiment model to 80% (16x1 blocks) while distilling from its dense teacher.

    python examples/prune_sentiment.py --model runs/student/sentiment --teacher runs/teachers/e5-small/sentiment
    python examples/prune_sentiment.py --model runs/student/sentiment --block-shape 1x4 --criterion movement

Data: ``--data`` or ``$OPTIMUM_RO_DATA/sentiment`` or ``../shared/data/ro/sentiment`` (LaRoSeDa, jsonl).
The result is an ordinary model folder with exact zero blocks and ``config.sparsity``; ``eval_results.json``
holds the accuracy and the per-layer sparsity. Same as ``optimum-ro prune --task sentiment ...``.
"""

import argparse
import json
import logging

from optimum_ro.pruning import BlockPruningConfig, format_sparsity_report
from optimum_ro.pruning.cli import PruneTaskConfig, prune_task


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="fine-tuned or distilled student folder")
    p.add_argument("--teacher", help="dense teacher folder fine-tuned on sentiment (distil while pruning)")
    p.add_argument("--data")
    p.add_argument("--output", default="runs/pruned/sentiment")
    p.add_argument("--block-shape", default="16x1")
    p.add_argument("--sparsity", type=float, default=0.8)
    p.add_argument("--criterion", default="magnitude")
    p.add_argument("--max-steps", type=int, default=600)
    p.add_argument("--max-train-samples", type=int)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    pruning = BlockPruningConfig(
        block_shape=args.block_shape,
        target_sparsity=args.sparsity,
        criterion=args.criterion,
        start_step=0 if args.criterion == "magnitude" else max(1, args.max_steps // 20),  # gradient scores first
        end_step=int(0.7 * args.max_steps),
        pruning_frequency=max(1, args.max_steps // 60),
        # the feed-forward layers hold 2/3 of the weights and tolerate more pruning than attention
        sparsity_overrides={r"intermediate\.dense|layer\.\d+\.output\.dense": min(0.95, args.sparsity + 0.05)},
    )
    run = PruneTaskConfig(
        model=args.model,
        task="sentiment",
        data=args.data,
        output_dir=args.output,
        teacher=args.teacher,
        max_steps=args.max_steps,
        max_length=128,
        batch_size=16,
        learning_rate=5e-5,
        max_train_samples=args.max_train_samples,
    )
    results = prune_task(run, pruning)
    print(
        format_sparsity_report(
            {"block_shape": list(pruning.block_shape), "layers": results["layers"], "overall": results["sparsity"]}
        )
    )
    print(json.dumps({split: results.get(split) for split in ("validation", "test")}, indent=2))


if __name__ == "__main__":
    main()
