"""``python -m data_fixtures [OUT_DIR] [--size demo] [--seed 7]``: write the fixtures as CSV.

Without ``OUT_DIR`` it regenerates the committed samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from data_fixtures import SIZES, generate_all, write_samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m data_fixtures", description=__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, help="default: the committed samples")
    parser.add_argument("--size", choices=sorted(SIZES), help="default: demo")
    parser.add_argument("--seed", type=int, help="default: 7")
    args = parser.parse_args(argv)
    if args.out_dir is None:
        # The samples have a fixed size and seed; quietly ignoring these would mislead.
        if args.size is not None or args.seed is not None:
            parser.error("--size and --seed need OUT_DIR; the samples are always small, seed 7")
        paths = write_samples()
    else:
        paths = generate_all(
            args.out_dir,
            size=args.size or "demo",
            seed=7 if args.seed is None else args.seed,
        )
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
