"""Command line: ``python -m metric push --repo-id ORG/NAME [--private] [--dry-run]``."""

from __future__ import annotations

import argparse
import sys

from .push import PushError, describe_dry_run, push_space, resolve_token


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m metric", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser(
        "push",
        help="publish the metric as a Hub Space that evaluate.load('ORG/NAME') loads",
        description="Create the Space ORG/NAME if absent and upload the module (as NAME.py), "
        "scoring.py, README.md, app.py and requirements.txt in one commit.",
    )
    push.add_argument("--repo-id", required=True, help="ORG/NAME of the Space")
    push.add_argument(
        "--private", action="store_true", help="create the Space private (if it does not exist)"
    )
    push.add_argument(
        "--dry-run", action="store_true", help="list the files and target; touch no network"
    )
    push.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the token (default: HF_TOKEN or the `hf auth login` "
        "token)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.dry_run:
            print(describe_dry_run(args.repo_id, private=args.private))
        else:
            token = resolve_token(args.token_env)
            url = push_space(args.repo_id, token=token, private=args.private)
            print(f'pushed to {url}\nload it with evaluate.load("{args.repo_id}")')
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
