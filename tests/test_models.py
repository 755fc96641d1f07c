"""Model adapters and the label-space mapping, on tiny random models saved in Hub folder layouts."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import huggingface_hub.constants
import model_fixtures as fixtures
import pytest
import timm
import timm.data
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from imagenet_multilabel.dataset_script.classes import CLASS_NAMES, NUM_CLASSES, WNIDS
from imagenet_multilabel.eval_cli.models import (
    FALLBACK_KIND,
    KINDS,
    ZERO_SHOT_TEMPLATE,
    LabelMapping,
    LabelSpaceError,
    ModelLoadError,
    detect_kind,
    kind_module,
    load_model,
    map_labels,
    model_problem,
    zero_shot_class_names,
)
from imagenet_multilabel.eval_cli.models import source as model_source
from timm.data import ImageNetInfo
from transformers import AutoImageProcessor, AutoProcessor

# Zero-shot models load with one prompt per class where the prompt style is not what a test is
# about: the default 80-prompt ensemble sends 80,000 prompts through even the tiny text tower
# (~17 s of CPU a load); test_zero_shot_prompts.py tests it.
SINGLE = "single"
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _inputs(adapter, seeds=(0, 1)) -> torch.Tensor:
    images = [fixtures.random_image(seed, 40 + 10 * seed, 60 - 10 * seed) for seed in seeds]
    return torch.stack([adapter.preprocess(image) for image in images])


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    """``saved(name, save_function, **kwargs)``: the folder, saved once per session."""
    folders: dict[str, Path] = {}

    def save(name: str, save_function, **kwargs) -> Path:
        if name not in folders:
            folders[name] = save_function(tmp_path_factory.mktemp(name) / "model", **kwargs)
        return folders[name]

    return save


def _saved_model(name: str, save: Callable[[Path], Path]):
    """A session fixture: the tiny model ``save`` writes, saved once under ``name``."""

    @pytest.fixture(scope="session")
    def model_dir(saved) -> Path:
        return saved(name, save)

    return model_dir


vit_dir = _saved_model("vit", fixtures.save_vit)
convnext_dir = _saved_model("convnext", fixtures.save_convnext)
resnet_dir = _saved_model("resnet", fixtures.save_resnet)
timm_dir = _saved_model("timm", fixtures.save_timm_model)
clip_dir = _saved_model("clip", fixtures.save_clip)
siglip_dir = _saved_model("siglip", fixtures.save_siglip)


# ---------------------------------------------------------------------------------------------
# Label mapping without models


def test_wnids_in_index_order_are_identity():
    mapping = map_labels(WNIDS, source="test")
    assert (mapping.method, mapping.columns, mapping.verified_by) == ("identity", None, "wnids")
    logits = torch.randn(2, NUM_CLASSES)
    assert mapping.apply(logits) is logits


def test_hub_names_in_index_order_are_identity_despite_two_cranes():
    assert fixtures.HUB_CLASS_NAMES.count("crane") == 2
    mapping = map_labels(fixtures.HUB_CLASS_NAMES, source="test")
    assert (mapping.method, mapping.verified_by) == ("identity", "names in ImageNet index order")
    assert mapping.assumption is None


def test_first_lemmas_and_punctuation_variants_match_by_name():
    names = [name.split(",")[0] for name in fixtures.HUB_CLASS_NAMES]
    names[400] = "academic gown, academic robe, judges robe"  # table: "judge's robe"
    assert map_labels(names, source="test").method == "identity"


def test_placeholder_labels_on_1000_outputs_are_an_explicit_assumption():
    mapping = map_labels([f"LABEL_{i}" for i in range(NUM_CLASSES)], source="test")
    assert mapping.method == "identity"
    assert mapping.assumption.startswith("assumed: 1000-way head in ImageNet index order")
    assert mapping.as_dict()["assumption"] == mapping.assumption


def test_placeholder_labels_on_other_sizes_are_rejected():
    with pytest.raises(LabelSpaceError, match="1001 output classes.*placeholders"):
        map_labels([f"LABEL_{i}" for i in range(NUM_CLASSES + 1)], source="test")


@settings(max_examples=20, deadline=None)
@given(st.permutations(range(NUM_CLASSES)))
def test_permuted_wnids_recover_imagenet_order(class_at_output):
    """Output ``j`` holds class ``class_at_output[j]``; the mapping must undo that."""
    mapping = map_labels([WNIDS[index] for index in class_at_output], source="test")
    outputs = torch.tensor([class_at_output], dtype=torch.float32)
    assert mapping.apply(outputs).tolist() == [list(map(float, range(NUM_CLASSES)))]


def test_permuted_unique_names_map_by_name():
    class_at_output = fixtures.permuted_indices(seed=3)
    names = list(fixtures.HUB_CLASS_NAMES)
    cranes = [i for i, name in enumerate(CLASS_NAMES) if name.startswith("crane")]
    for index in cranes:  # "crane" names two classes: these two need their wnids
        names[index] = WNIDS[index]
    mapping = map_labels([names[index] for index in class_at_output], source="test")
    assert mapping.method == "permutation"
    assert [class_at_output[column] for column in mapping.columns] == list(range(NUM_CLASSES))


def test_names_differing_only_in_case_stay_apart():
    """ "Cardigan" (the corgi, 264) and "cardigan" (the sweater, 474) swapped must swap back."""
    corgi, sweater = 264, 474
    assert fixtures.HUB_CLASS_NAMES[sweater] == "cardigan"
    names = [
        WNIDS[i] if name == "crane" else name for i, name in enumerate(fixtures.HUB_CLASS_NAMES)
    ]
    names[corgi] = "Cardigan"  # first lemma only: equal to the sweater's name but for case
    class_at_output = list(range(NUM_CLASSES))
    class_at_output[corgi], class_at_output[sweater] = sweater, corgi
    mapping = map_labels([names[index] for index in class_at_output], source="test")
    assert mapping.columns[corgi] == sweater and mapping.columns[sweater] == corgi


def test_permuted_ambiguous_names_are_rejected():
    labels = [fixtures.HUB_CLASS_NAMES[index] for index in fixtures.permuted_indices(seed=4)]
    with pytest.raises(LabelSpaceError, match="'crane'.*only be mapped by wnid"):
        map_labels(labels, source="test")


def test_permuted_first_lemmas_naming_one_class_twice_are_rejected():
    """First lemmas only: both maillot classes are "maillot", which is class 638's full name."""
    first_lemmas = [
        WNIDS[i] if i in (134, 517) else name for i, name in enumerate(zero_shot_class_names())
    ]
    labels = [first_lemmas[index] for index in fixtures.permuted_indices(seed=7)]
    with pytest.raises(LabelSpaceError, match="class n03710637 is named by two outputs"):
        map_labels(labels, source="test")


def test_the_toolkits_own_class_names_map_by_their_wnids():
    """``crane (n02012849)`` is how the toolkit's table spells the two cranes: accepted in index
    order and, permuted, mapped by the wnid it carries, never by the bare "crane"."""
    assert map_labels(CLASS_NAMES, source="test").method == "identity"
    class_at_output = fixtures.permuted_indices(seed=8)
    mapping = map_labels([CLASS_NAMES[index] for index in class_at_output], source="test")
    assert mapping.method == "permutation"
    assert [class_at_output[column] for column in mapping.columns] == list(range(NUM_CLASSES))


def test_a_wnid_suffix_naming_another_class_is_rejected():
    crane = CLASS_NAMES.index("crane (n02012849)")
    labels = [CLASS_NAMES[index] for index in fixtures.permuted_indices(seed=9)]
    labels[labels.index(CLASS_NAMES[crane])] = f"crane ({WNIDS[0]})"  # the tench's wnid
    with pytest.raises(LabelSpaceError, match=rf"'crane \({WNIDS[0]}\)'"):
        map_labels(labels, source="test")


def test_a_transformers_model_labelled_with_the_toolkits_class_names_loads(saved):
    class_at_output = fixtures.permuted_indices(seed=10)
    labels = [CLASS_NAMES[index] for index in class_at_output]
    adapter = load_model(str(saved("vit-toolkit-names", fixtures.save_vit, labels=labels)))
    assert adapter.label_mapping["method"] == "permutation"
    assert [class_at_output[column] for column in adapter.label_space.columns] == list(
        range(NUM_CLASSES)
    )


def test_background_column_is_dropped():
    mapping = map_labels(["background", *fixtures.HUB_CLASS_NAMES], source="test")
    assert mapping.method == "drop background column 0"
    outputs = torch.arange(NUM_CLASSES + 1, dtype=torch.float32)[None]
    assert mapping.apply(outputs)[0].tolist() == list(map(float, range(1, NUM_CLASSES + 1)))


def test_superset_of_wnids_selects_imagenet_columns():
    extra = [wnid for wnid in ImageNetInfo("imagenet-22k").label_names() if wnid not in WNIDS]
    labels = extra[:30] + list(reversed(WNIDS)) + extra[30:40]
    mapping = map_labels(labels, source="test")
    assert mapping.method == "column selection"
    assert [labels[column] for column in mapping.columns] == list(WNIDS)


def test_superset_lacking_a_few_classes_never_predicts_them():
    labels = ImageNetInfo("imagenet-12k").label_names()
    mapping = map_labels(labels, source="test")
    missing = ["n02085782", "n02089078", "n02089867", "n02091635", "n02112706", "n02113978"]
    assert mapping.as_dict()["missing_classes"] == [*missing, "n04399382"]
    assert "no output for 7 ImageNet class(es)" in mapping.assumption
    logits = mapping.apply(torch.randn(2, len(labels)))
    absent = [WNIDS.index(wnid) for wnid in mapping.as_dict()["missing_classes"]]
    assert torch.isneginf(logits[:, absent]).all()
    present = [i for i in range(NUM_CLASSES) if i not in absent]
    assert torch.isfinite(logits[:, present]).all()


def test_superset_lacking_many_classes_is_rejected_with_the_missing_wnids():
    extra = [wnid for wnid in ImageNetInfo("imagenet-22k").label_names() if wnid not in WNIDS]
    labels = extra[:200] + list(WNIDS[11:])
    with pytest.raises(LabelSpaceError, match=r"1189 output classes.*11 of the 1,000.*n01440764"):
        map_labels(labels, source="test")


def test_timm_wrapper_style_readable_superset_maps_through_timm_wnids():
    info = ImageNetInfo("imagenet-22k-ms")
    mapping = map_labels(info.label_descriptions(), source="test")
    assert mapping.verified_by.startswith("labels equal timm's imagenet-22k-ms")
    assert [info.label_names()[column] for column in mapping.columns] == list(WNIDS)


def test_ten_class_head_is_rejected_with_count_and_examples():
    with pytest.raises(LabelSpaceError) as error:
        map_labels(CIFAR10, source="cifar model")
    message = str(error.value)
    assert "cifar model: the model has 10 output classes" in message
    assert "'airplane', 'automobile'" in message
    assert "Supported:" in message


def test_duplicate_wnids_are_rejected():
    labels = list(WNIDS)
    labels[1] = labels[0]
    with pytest.raises(LabelSpaceError, match=f"wnid {WNIDS[0]} labels two outputs"):
        map_labels(labels, source="test")


def test_apply_rejects_outputs_of_the_wrong_width():
    mapping = map_labels(WNIDS, source="the config")
    with pytest.raises(RuntimeError, match=r"shape \(2, 10\).*expects \(batch, 1000\)"):
        mapping.apply(torch.zeros(2, 10))


def test_label_mapping_rejects_incomplete_columns():
    with pytest.raises(ValueError, match="1000 distinct"):
        LabelMapping("permutation", "test", 1000, "test", columns=(0,) * NUM_CLASSES)


def test_zero_shot_class_names_are_first_lemmas_without_disambiguation():
    names = zero_shot_class_names()
    assert names[0] == "tench"
    assert names[134] == names[517] == "crane"
    assert all(" (n" not in name for name in names)


# ---------------------------------------------------------------------------------------------
# Kind detection and model sources


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"architecture": "resnet50", "pretrained_cfg": {}}, "timm"),
        ({"model_type": "vit", "architectures": ["ViTForImageClassification"]}, "transformers"),
        ({"model_type": "timm_wrapper"}, "transformers"),
        ({"model_type": "clip", "architectures": ["CLIPModel"]}, "zero-shot"),
        ({"model_type": "siglip"}, "zero-shot"),
        ({"model_type": "clip", "architectures": ["CLIPForImageClassification"]}, "transformers"),
    ],
)
def test_detect_kind(config, kind):
    assert detect_kind(config) == kind


def test_detect_kind_rejects_unknown_layouts():
    with pytest.raises(ModelLoadError, match="neither 'model_type'.*nor 'architecture'"):
        detect_kind({"hidden_size": 32})


def test_the_command_line_offers_every_registered_kind():
    """`--model-kind` names the kinds without importing torch: the same names as `KINDS`."""
    from imagenet_multilabel.eval_cli.commands.arguments import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    offered = {action.dest: action.choices for action in run._actions}
    assert tuple(offered["kind"]) == KINDS  # --model-kind gives `kind`


def test_every_registered_kind_is_a_module_that_claims_and_loads():
    """The registry names each kind once; its module (named after it) claims configs and loads."""
    assert KINDS == ("transformers", "timm", "zero-shot") and len(set(KINDS)) == len(KINDS)
    assert FALLBACK_KIND in KINDS
    for kind in KINDS:
        module = kind_module(kind)
        assert module.__name__.endswith(kind.replace("-", "_"))
        assert callable(module.claims) and callable(module.load)


def test_unknown_kind_is_rejected(vit_dir):
    with pytest.raises(ModelLoadError, match="unknown model kind 'onnx'"):
        load_model(str(vit_dir), kind="onnx")


def test_missing_local_folder_is_rejected():
    with pytest.raises(ModelLoadError, match="'./no/such/model' is not a model folder"):
        load_model("./no/such/model")


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_model(str(tmp_path))


def test_revision_of_a_local_folder_is_rejected(vit_dir):
    with pytest.raises(ModelLoadError, match="revisions apply to Hub model ids only"):
        load_model(str(vit_dir), revision="main")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty offline Hub cache that huggingface_hub, transformers and timm all read."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def test_hub_ids_load_pinned_to_their_commit(hub_cache, vit_dir, timm_dir):
    fixtures.install_in_hub_cache(vit_dir, hub_cache, "tiny/vit")
    fixtures.install_in_hub_cache(timm_dir, hub_cache, "tiny/timm")
    vit = load_model("tiny/vit")
    timm_model = load_model("tiny/timm", revision="main")
    assert (vit.kind, vit.model_id, vit.revision) == (
        "transformers",
        "tiny/vit",
        fixtures.FAKE_COMMIT,
    )
    assert (timm_model.kind, timm_model.revision) == ("timm", fixtures.FAKE_COMMIT)


def test_a_hub_id_missing_from_the_offline_cache_is_named_before_any_download(
    hub_cache, monkeypatch
):
    def download(*args, **kwargs):
        raise AssertionError("no download is tried")

    monkeypatch.setattr(model_source, "hf_hub_download", download)
    with pytest.raises(ModelLoadError, match="'tiny/nope'.*not in the local.*HF_HUB_OFFLINE=1"):
        load_model("tiny/nope")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("x" * 300, r"'x{50}.*\(302 characters\) is neither a local model folder nor a Hub"),
        ("bad name!", "'bad name!' is neither a local model folder nor a Hub model id"),
        ("./" + "y" * 300, r"cannot be used: File name too long"),
    ],
    ids=["too-long", "not-an-id", "path-too-long"],
)
def test_a_name_that_is_no_model_is_named_briefly(model, message):
    assert model_problem(model) is not None
    with pytest.raises(ModelLoadError, match=message) as raised:
        load_model(model)
    assert len(str(raised.value)) < 400


# ---------------------------------------------------------------------------------------------
# transformers


@pytest.mark.parametrize("family", ["vit", "convnext", "resnet"])
def test_transformers_preprocess_equals_the_models_processor(family, request):
    model_dir = request.getfixturevalue(f"{family}_dir")
    adapter = load_model(str(model_dir))
    processor = AutoImageProcessor.from_pretrained(model_dir)
    image = fixtures.random_image(seed=11, width=57, height=43)
    expected = processor(images=image, return_tensors="pt")["pixel_values"][0]
    assert torch.allclose(adapter.preprocess(image), expected)
    assert adapter.preprocessing["input_size"] == [3, fixtures.IMAGE_SIZE, fixtures.IMAGE_SIZE]
    assert adapter.preprocessing["processor_class"] == type(processor).__name__


def test_convnext_preprocessing_records_crop_pct(convnext_dir):
    adapter = load_model(str(convnext_dir))
    config = adapter.preprocessing["processor_config"]
    assert config["crop_pct"] == 0.875
    assert config["size"] == {"shortest_edge": fixtures.IMAGE_SIZE}
    assert config["image_mean"] and config["image_std"] and "resample" in config


@pytest.mark.parametrize(
    ("family", "verified_by", "assumed"),
    [
        ("vit", "names in ImageNet index order", False),
        ("convnext", "wnids", False),
        ("resnet", "nothing: the labels are placeholders (LABEL_0..LABEL_999)", True),
    ],
)
def test_transformers_logits_are_the_model_logits(family, verified_by, assumed, request):
    adapter = load_model(str(request.getfixturevalue(f"{family}_dir")))
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        logits = adapter(pixel_values)
        expected = adapter.module(pixel_values=pixel_values).logits
    assert logits.shape == (2, NUM_CLASSES) and logits.dtype == torch.float32
    assert torch.equal(logits, expected)
    assert adapter.label_mapping["verified_by"] == verified_by
    assert (adapter.label_mapping["assumption"] is not None) == assumed


def test_adapter_metadata_is_json_ready(vit_dir):
    adapter = load_model(str(vit_dir))
    provenance = json.loads(json.dumps(adapter.provenance()))
    assert provenance["id"] == str(vit_dir)
    assert provenance["revision"] is None
    assert provenance["kind"] == "transformers"
    assert provenance["preprocessing"]["convert_rgb"] is True
    assert not adapter.module.training


def test_permuted_transformers_labels_are_undone(saved):
    class_at_output = fixtures.permuted_indices(seed=5)
    labels = [WNIDS[index] for index in class_at_output]
    adapter = load_model(str(saved("vit-permuted", fixtures.save_vit, labels=labels)))
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        outputs = adapter.module(pixel_values=pixel_values).logits
        logits = adapter(pixel_values)
    assert adapter.label_mapping["method"] == "permutation"
    for output, index in enumerate(class_at_output):
        assert torch.equal(logits[:, index], outputs[:, output])


def test_mobilenet_background_column_is_dropped(saved):
    adapter = load_model(str(saved("mobilenet", fixtures.save_mobilenet_v2_with_background)))
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        outputs = adapter.module(pixel_values=pixel_values).logits
        logits = adapter(pixel_values)
    assert outputs.shape[1] == NUM_CLASSES + 1
    assert adapter.label_mapping["method"] == "drop background column 0"
    assert torch.equal(logits, outputs[:, 1:])


def test_ten_class_model_is_rejected(saved):
    model_dir = saved("cifar", fixtures.save_vit, labels=CIFAR10)
    with pytest.raises(LabelSpaceError, match="10 output classes.*'airplane'"):
        load_model(str(model_dir))


def test_remote_code_needs_the_flag(saved):
    model_dir = saved("remote", fixtures.save_remote_code_model)
    with pytest.raises(ModelLoadError, match="needs custom code.*trust_remote_code=True"):
        load_model(str(model_dir))
    adapter = load_model(str(model_dir), trust_remote_code=True)
    assert type(adapter.module).__name__ == "TinyRemoteClassifier"
    assert adapter(_inputs(adapter)).shape == (2, NUM_CLASSES)


def test_timm_wrapper_uses_timms_transform_and_labels(saved):
    model_dir = saved("timm-wrapper", fixtures.save_timm_wrapper)
    adapter = load_model(str(model_dir))
    assert adapter.kind == "transformers"
    assert type(adapter.module).__name__ == "TimmWrapperForImageClassification"
    assert adapter.label_mapping["method"] == "identity"
    data_config = timm.data.resolve_data_config(adapter.module.config.pretrained_cfg)
    image = fixtures.random_image(seed=12)
    expected = timm.data.create_transform(**data_config)(image)
    assert torch.allclose(adapter.preprocess(image), expected)
    assert adapter(_inputs(adapter)).shape == (2, NUM_CLASSES)


def test_timm_layout_loaded_by_transformers_records_the_inferred_labels(saved, tmp_path):
    """An older timm export (no model_args) that transformers loads as a TimmWrapper: its
    id2label comes from timm's tables by class count, which must show in the provenance."""
    model_dir = tmp_path / "timm-legacy"
    shutil.copytree(saved("timm-legacy", fixtures.save_timm_model), model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    del config["model_args"]
    (model_dir / "config.json").write_text(json.dumps(config))
    adapter = load_model(str(model_dir), kind="transformers")
    assert type(adapter.module).__name__ == "TimmWrapperForImageClassification"
    assert "infer_imagenet_subset" in adapter.label_mapping["assumption"]


def test_logits_go_through_the_given_wrapped_module(vit_dir):
    """The loop passes the DDP/compiled wrapper of ``module``; logits must run through it."""

    class Wrapper(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.inner = module
            self.calls = 0

        def forward(self, *args, **kwargs):
            self.calls += 1
            return self.inner(*args, **kwargs)

    adapter = load_model(str(vit_dir))
    pixel_values = _inputs(adapter)
    wrapper = Wrapper(adapter.module)
    with torch.no_grad():
        assert torch.equal(adapter.logits(wrapper, pixel_values), adapter(pixel_values))
    assert wrapper.calls == 1


def test_grayscale_and_cmyk_images_become_rgb(vit_dir):
    adapter = load_model(str(vit_dir))
    image = fixtures.random_image(seed=13)
    for mode in ("L", "CMYK"):
        expected = adapter.preprocess(image.convert(mode).convert("RGB"))
        assert torch.equal(adapter.preprocess(image.convert(mode)), expected)


@pytest.mark.parametrize("family", ["vit", "timm", "clip"])
def test_preprocess_survives_pickling(family, request):
    adapter = load_model(str(request.getfixturevalue(f"{family}_dir")), zero_shot_prompts=SINGLE)
    image = fixtures.random_image(seed=14)
    copy = pickle.loads(pickle.dumps(adapter.preprocess))
    assert torch.equal(copy(image), adapter.preprocess(image))


# ---------------------------------------------------------------------------------------------
# timm


def test_timm_preprocess_is_timms_eval_transform(timm_dir):
    adapter = load_model(str(timm_dir))
    assert adapter.kind == "timm"
    expected_transform = timm.data.create_transform(
        **timm.data.resolve_data_config({}, model=adapter.module)
    )
    image = fixtures.random_image(seed=15, width=70, height=45)
    assert torch.allclose(adapter.preprocess(image), expected_transform(image))
    data_config = adapter.preprocessing["data_config"]
    assert data_config["input_size"] == [3, fixtures.IMAGE_SIZE, fixtures.IMAGE_SIZE]
    assert data_config["crop_pct"] == 0.875


def test_timm_logits_and_assumed_imagenet_1k(timm_dir):
    adapter = load_model(str(timm_dir))
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        assert torch.equal(adapter(pixel_values), adapter.module(pixel_values))
    assert adapter.label_mapping["method"] == "identity"
    assert "imagenet-1k" in adapter.label_mapping["assumption"]


def test_timm_superset_with_label_names_selects_by_wnid(saved):
    extra = [wnid for wnid in ImageNetInfo("imagenet-21k").label_names() if wnid not in WNIDS]
    label_names = extra[:25] + [WNIDS[i] for i in fixtures.permuted_indices(seed=6)] + extra[25:50]
    adapter = load_model(
        str(saved("timm-21k", fixtures.save_timm_model, num_classes=1050, label_names=label_names))
    )
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        outputs = adapter.module(pixel_values)
        logits = adapter(pixel_values)
    assert adapter.label_mapping["method"] == "column selection"
    column = {wnid: position for position, wnid in enumerate(label_names)}
    assert torch.equal(logits, outputs[:, [column[wnid] for wnid in WNIDS]])


def test_timm_22k_ms_head_without_label_names_uses_timms_table(saved):
    adapter = load_model(str(saved("timm-22k-ms", fixtures.save_timm_model, num_classes=21842)))
    assert adapter.label_mapping["columns"] == list(range(NUM_CLASSES))
    assert "imagenet-22k-ms" in adapter.label_mapping["assumption"]


def test_timm_12k_head_maps_and_records_its_missing_classes(saved):
    adapter = load_model(str(saved("timm-12k", fixtures.save_timm_model, num_classes=11821)))
    assert len(adapter.label_mapping["missing_classes"]) == 7
    assert adapter.label_mapping["method"] == "column selection"


def test_timm_kind_on_a_transformers_folder_is_rejected(vit_dir):
    with pytest.raises(ModelLoadError, match="kind 'timm' needs timm's Hub layout"):
        load_model(str(vit_dir), kind="timm")


@pytest.mark.parametrize("family", ["timm", "siglip"])
def test_compiled_module_gives_the_same_logits(family, request):
    adapter = load_model(str(request.getfixturevalue(f"{family}_dir")), zero_shot_prompts=SINGLE)
    pixel_values = _inputs(adapter)
    compiled = torch.compile(adapter.module, backend="eager")
    with torch.no_grad():
        assert torch.allclose(adapter.logits(compiled, pixel_values), adapter(pixel_values))


# ---------------------------------------------------------------------------------------------
# zero-shot


def _forward_logits(model_dir: Path, adapter, pixel_values: torch.Tensor) -> torch.Tensor:
    """The model's own forward on all 1,000 prompts, tokenised as the adapter records."""
    processor = AutoProcessor.from_pretrained(model_dir)
    prompts = [ZERO_SHOT_TEMPLATE.format(name) for name in zero_shot_class_names()]
    tokens = processor.tokenizer(
        prompts,
        padding=adapter.label_mapping["prompt_padding"],
        max_length=adapter.label_mapping["prompt_max_length"],
        return_tensors="pt",
    )
    model = adapter.module.model
    return model(
        input_ids=tokens["input_ids"],
        attention_mask=tokens["attention_mask"],
        pixel_values=pixel_values,
    ).logits_per_image


@pytest.mark.parametrize(("family", "padding"), [("clip", "longest"), ("siglip", "max_length")])
def test_zero_shot_logits_match_the_models_forward(family, padding, request):
    model_dir = request.getfixturevalue(f"{family}_dir")
    adapter = load_model(str(model_dir), zero_shot_prompts="single")
    assert adapter.kind == "zero-shot"
    assert adapter.label_mapping["templates"] == [ZERO_SHOT_TEMPLATE]
    assert adapter.label_mapping["prompt_padding"] == padding
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        logits = adapter(pixel_values)
        expected = _forward_logits(model_dir, adapter, pixel_values)
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.allclose(logits, expected, atol=1e-5)


def test_siglip_logits_include_the_bias(siglip_dir):
    adapter = load_model(str(siglip_dir), zero_shot_prompts=SINGLE)
    assert adapter.module.model.logit_bias.item() == pytest.approx(-2.5)
    pixel_values = _inputs(adapter)
    with torch.no_grad():
        logits = adapter(pixel_values)
        image_embeds = adapter.module.model.get_image_features(pixel_values=pixel_values)
    image_embeds = image_embeds.pooler_output
    image_embeds = image_embeds / image_embeds.norm(dim=-1, keepdim=True)
    scale = adapter.module.model.logit_scale.exp()
    unbiased = image_embeds @ adapter.module.text_embeds.t() * scale
    assert torch.allclose(logits - unbiased, torch.full_like(logits, -2.5), atol=1e-5)


def test_zero_shot_text_embeddings_are_computed_once(clip_dir, monkeypatch):
    adapter = load_model(str(clip_dir), zero_shot_prompts=SINGLE)
    assert adapter.module.text_embeds.shape[0] == NUM_CLASSES

    def fail(*args, **kwargs):
        raise AssertionError("text features recomputed per batch")

    monkeypatch.setattr(adapter.module.model, "get_text_features", fail)
    with torch.no_grad():
        assert adapter(_inputs(adapter)).shape == (2, NUM_CLASSES)


def test_zero_shot_provenance_records_prompts(clip_dir):
    mapping = load_model(str(clip_dir), zero_shot_prompts="single").label_mapping
    assert mapping["method"] == "zero-shot prompts"
    assert {"class_name": "crane", "wnids": ["n02012849", "n03126707"]} in mapping[
        "classes_with_identical_prompts"
    ]
    json.dumps(mapping)


def test_siglip2_naflex_is_rejected(tmp_path):
    model_dir = fixtures.save_config_only(tmp_path / "siglip2", {"model_type": "siglip2"})
    with pytest.raises(ModelLoadError, match="SigLIP2 NaFlex"):
        load_model(str(model_dir))


def test_zero_shot_kind_on_a_classifier_is_rejected(vit_dir):
    with pytest.raises(ModelLoadError, match="cannot load .* as a zero-shot image classifier"):
        load_model(str(vit_dir), kind="zero-shot")


def test_checkpoint_without_classifier_weights_is_rejected(clip_dir):
    """As an image classifier, CLIP gets a new random head: never score that."""
    with pytest.raises(ModelLoadError, match=r"lacks weights \['classifier.bias'"):
        load_model(str(clip_dir), kind="transformers")


def test_folder_without_weights_is_rejected(tmp_path):
    model_dir = fixtures.save_config_only(tmp_path / "vit", {"model_type": "vit"})
    with pytest.raises(ModelLoadError, match="transformers cannot load .* as an image classifier"):
        load_model(str(model_dir))
