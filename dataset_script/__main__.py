"""``python -m dataset_script build|push``: build the Hub dataset folder, upload it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dataset_script.annotations import AnnotationError, load_annotations
from dataset_script.build import BuildError, build_dataset
from dataset_script.images import ImageSourceError
from dataset_script.push import PushError, push_dataset


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_script",
        description="Build and publish the ImageNet multi-label Hub dataset.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", help="write the dataset folder (parquet, README.md card, eval.yaml)"
    )
    build.add_argument("--output", required=True, help="new or empty directory to write")
    build.add_argument(
        "--annotations",
        metavar="PATH",
        help="local copy of human_accuracy_v3.0.0.json (default: download the published file)",
    )
    build.add_argument(
        "--allow-unverified-annotations",
        action="store_true",
        help="accept an annotation file whose sha256 differs from the published one",
    )
    build.add_argument(
        "--images",
        metavar="SOURCE",
        help="also build the 'images' config from ILSVRC2012_img_val.tar, a folder of images, "
        "or a Hugging Face dataset (ORG/NAME, hf://ORG/NAME or a local dataset folder)",
    )
    build.add_argument(
        "--images-split",
        metavar="SPLIT",
        help="split of a Hugging Face image dataset (default: validation)",
    )
    build.add_argument(
        "--repo-id",
        metavar="ORG/NAME",
        help="Hub id the folder will be pushed to; only used in the card's code examples",
    )

    push = commands.add_parser("push", help="upload a built folder to a Hub dataset repository")
    push.add_argument("folder", metavar="DIR", help="folder written by `build`")
    push.add_argument("--repo-id", required=True, metavar="ORG/NAME")
    push.add_argument(
        "--private", action="store_true", help="create the repository as private if it is new"
    )
    push.add_argument(
        "--dry-run", action="store_true", help="list the files and target; touch no network"
    )
    push.add_argument(
        "--allow-public-images",
        action="store_true",
        help="allow uploading the ImageNet images config to a public repository",
    )
    push.add_argument(
        "--replace-remote-configs",
        action="store_true",
        help="delete the repository's files of configs this folder lacks (e.g. images/ when "
        "pushing a labels-only build); without it such a push stops",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "build" and args.images_split and not args.images:
        parser.error("--images-split needs --images SOURCE")
    try:
        if args.command == "build":
            annotations = load_annotations(
                args.annotations, allow_unverified=args.allow_unverified_annotations
            )
            folder = build_dataset(
                args.output,
                annotations,
                images=args.images,
                images_split=args.images_split,
                repo_id=args.repo_id,
            )
            print(f"wrote {folder}")
        else:
            push_dataset(
                args.folder,
                args.repo_id,
                private=args.private,
                dry_run=args.dry_run,
                allow_public_images=args.allow_public_images,
                replace_remote_configs=args.replace_remote_configs,
            )
    except (AnnotationError, BuildError, ImageSourceError, PushError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
