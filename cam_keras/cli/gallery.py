"""``cam-keras gallery``: the browsable page over a heatmap job's or an evaluation's maps."""

from __future__ import annotations

import argparse
from pathlib import Path

from cam_keras.safe_text import for_terminal


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "gallery",
        help="write gallery.html: browse, sort and filter a heatmap job's or an evaluation's maps",
        description=(
            "Writes gallery.html and gallery-data.js into DIR, the --out folder of a finished `cam-keras heatmap` "
            "job (after `cam-keras merge` for a sharded one) or of `cam-keras evaluate`. The page needs no server "
            "and fetches nothing: open it from disk, a static web server or a CI artifact. `heatmap` and "
            "`evaluate` write it themselves unless given --no-gallery."
        ),
    )
    parser.add_argument("folder", type=Path, metavar="DIR", help="a heatmap job's or an evaluation's output folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cam_keras.api import write_gallery

    page = write_gallery(args.folder)
    print(f"gallery: {for_terminal(str(page))}")
    return 0
