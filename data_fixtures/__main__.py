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
    parser.add_argument("--size", choices=sorted(SIZES), default="demo")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.out_dir is None:
        paths = write_samples()
    else:
        paths = generate_all(args.out_dir, size=args.size, seed=args.seed)
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
