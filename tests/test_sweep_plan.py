"""`sweep plan` (the manifest from timm's registry, a models file or a Hub search) and the shares
of `sweep run --shard K/N`."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import timm
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.sweeps import plan
from imagenet_multilabel.eval_cli.sweeps.manifest import ManifestEntry, ordered, read_manifest
from imagenet_multilabel.eval_cli.sweeps.shards import Shard, ShardError, shard_entries
from model_fixtures import save_timm_model, save_vit
from timm.models import get_pretrained_cfg


@pytest.fixture(scope="module")
def timm_plan() -> list[ManifestEntry]:
    return ordered(plan.plan_from_timm())


def _by_model(entries) -> dict[str, ManifestEntry]:
    return {entry.model: entry for entry in entries}


def test_the_timm_registry_gives_every_imagenet_1k_classifier_on_the_hub(timm_plan):
    configs = [get_pretrained_cfg(tag) for tag in timm.list_pretrained()]
    expected = {
        config.hf_hub_id
        for config in configs
        if config.num_classes == 1000 and config.hf_hub_id and not config.hf_hub_filename
    }
    assert {entry.model for entry in timm_plan if entry.skipped is None} == expected
    assert len(timm_plan) == len(configs) and len(expected) > 1000  # every tag, once
    assert {entry.kind for entry in timm_plan} == {"timm"}


def test_a_model_that_cannot_be_scored_is_skipped_with_the_reason(timm_plan):
    reasons = {}
    for tag in timm.list_pretrained():
        config = get_pretrained_cfg(tag)
        reasons.setdefault((config.num_classes, bool(config.hf_hub_id)), config.hf_hub_id or tag)
    entries = _by_model(timm_plan)
    assert entries[reasons[(0, True)]].skipped.startswith("no classifier head: num_classes 0")
    assert entries[reasons[(11821, True)]].skipped == (
        "no ImageNet-1k head: a imagenet-12k head of 11,821 classes"
    )
    assert entries[reasons[(512, True)]].skipped.startswith(
        "label space not mappable: 512 outputs without label names"
    )
    assert entries[reasons[(1000, False)]].skipped.startswith("not on the Hugging Face Hub")


@pytest.mark.parametrize("tag", ["resnet50.a1_in1k", "vit_tiny_patch16_384.augreg_in21k_ft_in1k"])
def test_the_geometry_is_what_the_adapter_resolves(timm_plan, tag):
    """The adapter calls resolve_input_data_config(model, use_test_size=True) on the loaded
    model; the plan reads the same from the registry, without weights."""
    model = timm.create_model(tag, pretrained=False)
    data = timm.data.resolve_input_data_config(model, use_test_size=True)
    geometry = _by_model(timm_plan)[f"timm/{tag}"].geometry
    assert geometry == {
        "input_size": list(data["input_size"][1:]),
        "crop_pct": data["crop_pct"],
        "crop_mode": data["crop_mode"],
        "interpolation": data["interpolation"],
    }


def test_the_manifest_groups_models_by_geometry_most_common_first(timm_plan, tmp_path):
    scored = [entry for entry in timm_plan if entry.skipped is None]
    keys = [entry.geometry_key for entry in scored]
    runs = [key for index, key in enumerate(keys) if index == 0 or keys[index - 1] != key]
    assert len(runs) == len(set(keys))  # each geometry one contiguous run
    sizes = Counter(keys)
    assert [sizes[key] for key in runs] == sorted(sizes.values(), reverse=True)
    assert all(entry.skipped for entry in timm_plan[len(scored) :])


def test_globs_choose_tags(tmp_path, capsys):
    output = tmp_path / "manifest.jsonl"
    assert main(["sweep", "plan", "--from", "timm", "*.a1_in1k", "*.in1k", "--output", str(output)]) == 0  # fmt: skip # noqa: E501
    entries = read_manifest(output)
    assert entries and all(e.model.endswith((".a1_in1k", ".in1k")) for e in entries)
    printed = capsys.readouterr().out.splitlines()
    scored = sum(entry.skipped is None for entry in entries)
    assert printed[0].startswith(f"{scored:,} model(s) to score in ")
    assert printed[-1] == f"wrote {output}"
    assert main(["sweep", "plan", "no-such-model-*", "--output", str(tmp_path / "x")]) == 2
    assert "no model of --from timm matches 'no-such-model-*'" in capsys.readouterr().err


def test_a_models_file_plans_what_its_configs_say(tmp_path):
    timm_model = save_timm_model(tmp_path / "timm")
    cifar = save_vit(tmp_path / "cifar", labels=[f"c{i}" for i in range(10)])
    models = tmp_path / "models.txt"
    models.write_text(f"{timm_model}\n{cifar}\n{tmp_path / 'nothing'}\norg/not-downloaded\n")
    entries = _by_model(plan.plan_from_list(models))
    assert entries[str(timm_model)].geometry == {
        "input_size": [32, 32],
        "crop_pct": 0.875,
        "crop_mode": "center",
        "interpolation": "bilinear",
    }
    assert entries[str(timm_model)].kind == "timm" and entries[str(timm_model)].skipped is None
    assert entries[str(cifar)].skipped.startswith("label space not mappable: ")
    assert entries[str(tmp_path / "nothing")].skipped.startswith("not a model: ")
    assert entries["org/not-downloaded"] == ManifestEntry("org/not-downloaded")  # known on load


def test_a_hub_search_is_refused_offline_in_one_line(tmp_path, capsys):
    assert main(["sweep", "plan", "--from", "hub", "--output", str(tmp_path / "m.jsonl")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --from hub searches the Hugging Face Hub, which HF_HUB_OFF")
    assert error.count("\n") == 1 and not (tmp_path / "m.jsonl").exists()


def test_a_hub_search_lists_image_classifiers_trained_on_imagenet_1k(monkeypatch):
    asked = {}

    def list_models(self, **filters):
        asked.update(filters)
        return [
            SimpleNamespace(id="timm/resnet50.a1_in1k", library_name="timm", sha="a" * 40,
                            safetensors=SimpleNamespace(total=25_600_000)),
            SimpleNamespace(id="microsoft/resnet-50", library_name="transformers", sha="b" * 40,
                            safetensors=None),
            SimpleNamespace(id="keras-io/resnet", library_name="keras", sha="c" * 40),
        ]  # fmt: skip

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_models", list_models)
    timm_entry, transformers_entry, keras = plan.plan_from_hub()
    assert asked["pipeline_tag"] == "image-classification"
    assert asked["trained_dataset"] == "imagenet-1k"
    assert timm_entry.revision == "a" * 40 and timm_entry.geometry["input_size"] == [288, 288]
    assert timm_entry.cost == pytest.approx(288**2 / 224**2 * 25.6 / 25, abs=1e-3)
    assert transformers_entry == ManifestEntry("microsoft/resnet-50", "b" * 40, "transformers")
    assert keras.skipped == "library keras: not a transformers or timm model"


# ---------------------------------------------------------------------------------------------
# Shards


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        ("2/5", {}, Shard(2, 5)),
        (None, {}, Shard(0, 1)),
        (None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, Shard(3, 4)),
        ("0/2", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, Shard(0, 2)),
    ],
)
def test_a_shard_is_given_or_slurms_task(given, environ, expected):
    assert Shard.parse(given, environ) == expected


def test_a_slurm_array_with_gaps_needs_the_shard_given():
    environ = {
        "SLURM_ARRAY_TASK_ID": "7",
        "SLURM_ARRAY_TASK_COUNT": "2",
        "SLURM_ARRAY_TASK_MIN": "3",
    }
    with pytest.raises(ShardError, match="array task 7 is not one of 2 tasks counted from 3"):
        Shard.parse(None, environ)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64])
def test_every_model_runs_in_exactly_one_shard_and_the_shards_balance(timm_plan, count):
    scored = [entry for entry in timm_plan if entry.skipped is None]
    shares = [shard_entries(timm_plan, Shard(index, count)) for index in range(count)]
    assert sorted(e.model for share in shares for e in share) == sorted(e.model for e in scored)
    loads = [sum(entry.cost for entry in share) for share in shares]
    total = sum(loads)
    assert max(loads) <= total / count + max(entry.cost for entry in scored) + 1e-9
    assert shares == [shard_entries(timm_plan, Shard(i, count)) for i in range(count)]
    shards_of_geometry = defaultdict(set)
    for index, share in enumerate(shares):
        for entry in share:
            shards_of_geometry[entry.geometry_key].add(index)
    for key, shards in shards_of_geometry.items():
        group = sum(entry.cost for entry in scored if entry.geometry_key == key)
        if group <= total / count:
            assert len(shards) == 1, key  # a geometry within a share stays in one shard


def test_a_manifest_written_is_read_back_the_same(timm_plan, tmp_path):
    from imagenet_multilabel.eval_cli.sweeps.manifest import write_manifest

    path = tmp_path / "manifest.jsonl"
    write_manifest(path, timm_plan)
    assert read_manifest(path) == timm_plan
    first = json.loads(Path(path).read_text().splitlines()[0])
    assert set(first) == {"model", "revision", "kind", "geometry", "cost", "skipped"}
