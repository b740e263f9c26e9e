"""``cam-keras merge``: join the tables and reports of a sharded heatmap job."""

from __future__ import annotations

import argparse
from pathlib import Path

from cam_keras.safe_text import for_terminal


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="join the predictions-K-of-N.csv and report-K-of-N.json of `heatmap --shard` into one",
        description=(
            "Joins every shard's predictions-K-of-N.csv into predictions.csv (in input order, as one "
            "job would have written it) and their reports into report.json. Refuses while a shard is "
            "missing or unfinished, and names it."
        ),
    )
    parser.add_argument("out", type=Path, help="the --out folder the shards wrote to")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cam_keras.jobs.merge import merge_shards

    report = merge_shards(args.out)
    print(
        f"merged {report['shards']} shards in {for_terminal(str(args.out))}: {report['succeeded']} of "
        f"{report['total']} images in predictions.csv, {len(report['skipped'])} skipped (see report.json)"
    )
    return 0
