"""Run ``isthmus loadtest`` from its own module while the top-level ``isthmus`` CLI does not yet
register it: ``python bench/loadtest_cli.py run URL ...`` == ``isthmus loadtest run URL ...``."""

from __future__ import annotations

import argparse
import sys

from isthmus.loadtest.cli import register


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="isthmus")
    register(parser.add_subparsers(required=True, metavar="COMMAND"))
    args = parser.parse_args(["loadtest", *argv])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
