"""Several reviewers' label patches -> one consensus patch, the conflicts, and their agreement.

Each patch file (``dataset_script.patches``) is one reviewer's vote on the (image, class) pairs it
decides. ``merge_patches`` keeps a verdict when at least ``min_agreement`` reviewers gave it and
no other verdict got as many; every pair the reviewers disagree on is a conflict, listed with each
reviewer's verdict (and the verdict kept, if one was); a pair fewer than ``min_agreement``
reviewers decided is held back and counted. Agreement is Cohen's kappa per pair of reviewers
(over the pairs both decided) and Fleiss' kappa (over the pairs every reviewer decided), each with
the counts it rests on; kappa is undefined, and said to be, when there is nothing to compare or
chance agreement is 1 (every verdict the same).

The merged patch is itself a patch that ``read_patch`` accepts, on the same base, with its
``sources`` (file, sha256, reviewer) and a ``merge`` block (the rule, the counts, the agreement).
Scoring with several disagreeing patches stays refused (``patches.apply_patches``); this is the
way to turn them into one.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...metric.errors import expect_count, expect_paths, expect_text, named
from .patches import (
    PATCH_FORMAT,
    PATCH_FORMAT_VERSION,
    PATCH_VERDICTS,
    Decision,
    LabelPatch,
    LabelPatchError,
    read_patch,
)

DEFAULT_MIN_AGREEMENT = 2
_Item = tuple[str, int]  # (file name, class id)


def merge_patches(
    paths: Sequence[str | os.PathLike],
    *,
    min_agreement: int = DEFAULT_MIN_AGREEMENT,
    base_sha256: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The merged patch document, the conflicts (one record per disagreed pair) and the report
    (counts and agreement). ``base_sha256``: the annotation file the patches must apply to
    (default: whatever base they share)."""
    expect_count(min_agreement, "min_agreement")
    expect_text(base_sha256, "base_sha256", optional=True)
    paths = expect_paths(
        paths,
        "paths",
        at_least=2,
        plural="label patch files, one per reviewer (a single patch is used as it is)",
    )
    patches = [read_patch(path) for path in paths]
    reviewers = _reviewer_names(patches)
    if not 1 <= min_agreement <= len(patches):
        raise LabelPatchError(
            f"{named('min_agreement')} {min_agreement} is not between 1 and the {len(patches)} "
            "patches merged"
        )
    bases = {patch.base for patch in patches} | ({base_sha256} if base_sha256 else set())
    if len(bases) > 1:
        listing = "; ".join(f"{patch.source}: {patch.base}" for patch in patches)
        raise LabelPatchError(
            f"the patches apply to different annotation files ({listing}"
            + (f"; expected {base_sha256}" if base_sha256 else "")
            + "); expected patches made on the same labels"
        )
    votes = _votes(patches, reviewers)
    decisions, conflicts, held_back = [], [], 0
    for (file_name, class_id), by_reviewer in sorted(votes.items()):
        kept = _kept_verdict(by_reviewer, min_agreement)
        if kept is not None:
            agreeing = {name: d for name, d in by_reviewer.items() if d.verdict == kept}
            decisions.append(_merged_decision(file_name, class_id, kept, agreeing))
        if len({d.verdict for d in by_reviewer.values()}) > 1:
            conflicts.append(
                {
                    "file_name": file_name,
                    "class_id": class_id,
                    "verdicts": {name: d.verdict for name, d in by_reviewer.items()},
                    "kept": kept,
                }
            )
        elif kept is None:
            held_back += 1
    report = {
        "min_agreement": min_agreement,
        "reviewers": reviewers,
        "num_pairs_decided": len(votes),
        "num_kept": len(decisions),
        "num_conflicts": len(conflicts),
        "num_conflicts_resolved": sum(conflict["kept"] is not None for conflict in conflicts),
        "num_held_back": held_back,  # agreed, but by fewer than min_agreement reviewers
        "agreement": agreement(votes, reviewers),
    }
    document = {
        "format": PATCH_FORMAT,
        "format_version": PATCH_FORMAT_VERSION,
        "base": bases.pop(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "reviewer": f"consensus of {', '.join(reviewers)} (at least {min_agreement} agreeing)",
        "decisions": decisions,
        "sources": [
            {"file": Path(patch.source).name, "sha256": patch.sha256, "reviewer": name}
            for patch, name in zip(patches, reviewers, strict=True)
        ],
        "merge": report,
    }
    return document, conflicts, report


def _reviewer_names(patches: Sequence[LabelPatch]) -> list[str]:
    """One name per patch (its ``reviewer``, else its file name); a file or a name twice would
    count one person's votes twice, so it is refused."""
    names = [patch.reviewer.strip() or Path(patch.source).name for patch in patches]
    for kind, keys in (("file", [p.sha256 for p in patches]), ("reviewer", names)):
        repeated = [key for key, count in Counter(keys).items() if count > 1]
        if repeated:
            sources = [p.source for p, key in zip(patches, keys, strict=True) if key == repeated[0]]
            raise LabelPatchError(
                f"the same {kind} is given {len(sources)} times ({', '.join(sources)}); expected "
                "one patch per reviewer (combine one reviewer's decisions into one file)"
            )
    return names


def _votes(
    patches: Sequence[LabelPatch], reviewers: Sequence[str]
) -> dict[_Item, dict[str, Decision]]:
    """Per (image, class): each reviewer's decision, in the order the patches were given."""
    votes: dict[_Item, dict[str, Decision]] = {}
    for patch, name in zip(patches, reviewers, strict=True):
        for decision in patch.decisions:  # read_patch refused a file disagreeing with itself
            votes.setdefault((decision.file_name, decision.class_id), {}).setdefault(name, decision)
    return votes


def _kept_verdict(by_reviewer: dict[str, Decision], min_agreement: int) -> str | None:
    """The verdict given by at least ``min_agreement`` reviewers and by more than any other."""
    ranked = Counter(d.verdict for d in by_reviewer.values()).most_common()
    verdict, count = ranked[0]
    if count < min_agreement or (len(ranked) > 1 and ranked[1][1] == count):
        return None
    return verdict


def _merged_decision(
    file_name: str,
    class_id: int,
    verdict: str,
    agreeing: dict[str, Decision],
) -> dict[str, Any]:
    """A patch decision: the agreed verdict; category and severity where the agreeing reviewers
    who gave one gave the same, else left out and the difference written into the note; every
    reviewer's note, by name."""
    decision: dict[str, Any] = {"file_name": file_name, "class_id": class_id, "verdict": verdict}
    notes = [f"{name}: {d.note}" for name, d in agreeing.items() if d.note]
    for field in ("category", "severity"):
        given = {getattr(d, field) for d in agreeing.values()} - {None}
        if len(given) == 1:
            decision[field] = given.pop()
        elif given:
            named = ", ".join(
                f"{name} {getattr(d, field)}" for name, d in agreeing.items() if getattr(d, field)
            )
            notes.append(f"{field} differs: {named}")
    if notes:
        decision["note"] = "; ".join(notes)
    return decision


# ---------------------------------------------------------------------------------------------
# Agreement


def agreement(votes: dict[_Item, dict[str, Decision]], reviewers: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa for every pair of reviewers, Fleiss' kappa over the pairs all decided."""
    pairs = []
    for first, second in itertools.combinations(reviewers, 2):
        both = [v for v in votes.values() if first in v and second in v]
        pairs.append(
            {
                "reviewers": [first, second],
                **cohen_kappa([v[first].verdict for v in both], [v[second].verdict for v in both]),
            }
        )
    by_everyone = [v for v in votes.values() if len(v) == len(reviewers)]
    return {
        "verdicts": list(PATCH_VERDICTS),
        "cohen": pairs,
        "fleiss": fleiss_kappa(
            [[d.verdict for d in v.values()] for v in by_everyone], num_raters=len(reviewers)
        ),
    }


def _kappa(observed: Fraction, expected: Fraction, num_items: int, why_none: str) -> dict[str, Any]:
    """kappa = (observed - expected) / (1 - expected), or None with the reason it is undefined."""
    if num_items == 0:
        return {"num_items": 0, "kappa": None, "undefined": why_none}
    result: dict[str, Any] = {
        "num_items": num_items,
        "observed_agreement": float(observed),
        "expected_agreement": float(expected),
    }
    if expected == 1:
        result["kappa"] = None
        result["undefined"] = (
            "every verdict is the same one, so chance agreement is 1 and kappa is undefined "
            "(0 / 0); the observed agreement says it all"
        )
    else:
        result["kappa"] = float((observed - expected) / (1 - expected))
    return result


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa of two raters' labels on the same items (reviewers' verdicts, or the
    experts' and the automatic mistake categories), exact until the end."""
    num_items = len(first)
    why_none = "no (image, class) was decided by both"
    if num_items == 0:
        return _kappa(Fraction(0), Fraction(0), 0, why_none)
    observed = Fraction(sum(a == b for a, b in zip(first, second, strict=True)), num_items)
    counts_first, counts_second = Counter(first), Counter(second)
    expected = sum(
        (
            Fraction(counts_first[value] * counts_second[value], num_items**2)
            for value in counts_first.keys() & counts_second.keys()
        ),
        Fraction(0),
    )
    return _kappa(observed, expected, num_items, why_none)


def fleiss_kappa(ratings: Sequence[Sequence[str]], *, num_raters: int) -> dict[str, Any]:
    """Fleiss' kappa of items each rated by all ``num_raters`` reviewers (``ratings[i]``: the
    verdicts on item i), exact until the end. The reviewers are counted apart from the items, so
    that with no item they are still reported as they are (not as 0)."""
    num_items = len(ratings)
    why_none = "no (image, class) was decided by every reviewer"
    if num_items == 0:
        return {"num_raters": num_raters, **_kappa(Fraction(0), Fraction(0), 0, why_none)}
    per_item = [Counter(item) for item in ratings]
    pairs_per_item = num_raters * (num_raters - 1)
    observed = (
        sum(
            (
                Fraction(sum(n * n for n in counts.values()) - num_raters, pairs_per_item)
                for counts in per_item
            ),
            Fraction(0),
        )
        / num_items
    )
    totals = sum(per_item, Counter())
    expected = sum(
        (Fraction(totals[v], num_items * num_raters) ** 2 for v in PATCH_VERDICTS), Fraction(0)
    )
    return {"num_raters": num_raters, **_kappa(observed, expected, num_items, why_none)}
