"""`run` feeding the device: uint8 from the workers (default), `--preprocess-on device` and
`--decode-on device` predict what the float32 path (the model's own preprocessing) predicts, for
each model kind, on photo-like JPEGs of odd sizes with grayscale, CMYK and PNG images among them
(finished on the CPU path per image, counted); the choices are part of a run's identity, and an
approximate decoder's results are never official."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from image_fixtures import make_val_folder, make_val_tar
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.feed import loader, preprocess_plan
from imagenet_multilabel.eval_cli.feed.jpeg_decode import CPU_DECODER, DEVICE_DECODER
from imagenet_multilabel.eval_cli.feed.preprocess_plan import UnsupportedPreprocessingError
from imagenet_multilabel.eval_cli.scores import hub, results
from imagenet_multilabel.eval_cli.scores.predictions import read_predictions
from model_fixtures import save_clip, save_resnet, save_siglip, save_timm_model, save_vit
from photo_fixtures import ODD_SIZES, encode, photo_like_jpeg, photo_like_pixels, real_photo_jpeg
from PIL import Image
from run_fixtures import make_workspace, run_args, with_option

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")

DEVICE_PATHS = {
    ("--preprocess-on", "device"): loader.DEVICE_GEOMETRY_PATH,
    ("--decode-on", "device"): loader.DEVICE_DECODE_PATH,
}


def _not_rgb_jpeg(position: int) -> bytes | None:
    """Every 5th image is a grayscale or CMYK JPEG or an RGBA PNG: not RGB, so the device paths
    finish it on the CPU path."""
    if position % 5:
        return None
    kind = position // 5 % 3
    if kind == 2:
        return encode(Image.fromarray(photo_like_pixels(50, 33, position)).convert("RGBA"), "PNG")
    return photo_like_jpeg(61, 45, seed=position, mode=("L", "CMYK")[kind])


def _photos(image_ids: list[int]) -> dict[int, bytes]:
    """Photo-like JPEGs of odd sizes, the real photo, and the images of ``_not_rgb_jpeg``."""
    photos = {
        image_id: _not_rgb_jpeg(n) or photo_like_jpeg(*ODD_SIZES[n % len(ODD_SIZES)], seed=n)
        for n, image_id in enumerate(image_ids)
    }
    photos[image_ids[1]] = real_photo_jpeg()
    return photos


def _not_rgb_jpegs_predicted(workspace, output: Path) -> int:
    names = {classes.file_name_from_image_id(i) for i in workspace["image_ids"][::5]}
    count = len(names & set(_records(output / "predictions.jsonl")))
    assert count
    return count


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    workspace = make_workspace(tmp_path_factory.mktemp("feeds"))
    make_val_tar(workspace["tar"], workspace["image_ids"], _photos(workspace["image_ids"]))
    return workspace


def _refuse_every_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args, **_kwargs):
        raise UnsupportedPreprocessingError("refused by the test")

    monkeypatch.setattr(preprocess_plan, "plan_for_processor", refuse)
    monkeypatch.setattr(preprocess_plan, "plan_for_timm", refuse)


def _run(workspace, model: Path, output: Path, *extra: str) -> dict:
    """One run with one worker; zero-shot models with one prompt per class: these tests are about
    pixels, and the default 80-prompt ensemble costs ~17 s of CPU a run even on a tiny model."""
    args = with_option(run_args(workspace, model, output, *extra), "--num-workers", "1")
    assert main([*args, "--zero-shot-prompts", "single"]) == 0
    return json.loads((output / "results.json").read_text())


def _records(path: Path) -> dict[str, dict]:
    return {r["file_name"]: r for r in map(json.loads, path.read_text().splitlines())}


def _assert_same_predictions(path: Path, reference: Path) -> None:
    """Same top-5 ids per image, probabilities within 1e-5 (fp32)."""
    ours, theirs = _records(path), _records(reference)
    assert sorted(ours) == sorted(theirs)
    assert all(ours[name]["top5"] == theirs[name]["top5"] for name in theirs)
    differences = [
        abs(a - b)
        for name in theirs
        for a, b in zip(ours[name]["top5_probs"], theirs[name]["top5_probs"], strict=True)
    ]
    assert max(differences) <= 1e-5


@pytest.mark.parametrize(
    "saver",
    [save_resnet, save_vit, save_timm_model, save_clip, save_siglip],
    ids=["transformers-crop_pct", "transformers-vit", "timm", "clip", "siglip"],
)
@pytest.mark.slow
def test_every_feed_predicts_what_the_float_path_predicts(workspace, tmp_path, monkeypatch, saver):
    model = saver(tmp_path / "model")
    with monkeypatch.context() as patch:
        _refuse_every_plan(patch)
        document = _run(workspace, model, tmp_path / "float")
    assert document["run"]["preprocessing_path"] == loader.FLOAT_PATH
    assert "refused by the test" in document["run"]["feed_note"]
    reference = tmp_path / "float" / "predictions.jsonl"

    document = _run(workspace, model, tmp_path / "uint8")
    assert document["run"]["preprocessing_path"] == loader.UINT8_PATH
    assert document["run"]["preprocess_on"] == "cpu"
    assert document["run"]["images_finished_on_the_cpu_path"] == 0
    _assert_same_predictions(tmp_path / "uint8" / "predictions.jsonl", reference)

    for (option, value), path in DEVICE_PATHS.items():
        output = tmp_path / value / option
        document = _run(workspace, model, output, option, value)
        assert document["run"]["preprocessing_path"] == path
        assert document["run"]["preprocess_on"] == "device"
        expected = _not_rgb_jpegs_predicted(workspace, output)
        assert document["run"]["images_finished_on_the_cpu_path"] == expected
        _assert_same_predictions(output / "predictions.jsonl", reference)


def test_decoders_are_recorded_and_cpu_decoding_is_official_when_the_rest_is(workspace, tmp_path):
    model = save_resnet(tmp_path / "model")
    assert _run(workspace, model, tmp_path / "cpu")["run"]["decode"] == loader.WORKER_DECODER
    document = _run(workspace, model, tmp_path / "device", "--decode-on", "device")
    assert document["run"]["decode"] == CPU_DECODER == "libjpeg-turbo (torchvision)"
    assert not any("APPROXIMATE" in problem for problem in results.publication_problems(document))


def test_approximate_decoding_is_never_official(workspace, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(loader, "decoder_label", lambda device: DEVICE_DECODER)
    model = save_resnet(tmp_path / "model")
    output = tmp_path / "out"
    args = run_args(workspace, model, output, "--decode-on", "device", "--strict")
    assert main(args) == 3
    document = json.loads((output / "results.json").read_text())
    assert document["run"]["decode"] == "nvjpeg (approximate)"
    problems = results.publication_problems(document)
    assert any(problem.startswith("APPROXIMATE DECODE") for problem in problems)
    assert "approximate decode" in results.problem_flags(document)
    with pytest.raises(hub.PushError, match="APPROXIMATE DECODE"):
        hub.push_results(document, output, repo_id="someone/model", dry_run=True)


@pytest.mark.parametrize(("option", "recorded", "now"), [("--preprocess-on", "cpu", "device")])
def test_resume_refuses_another_preprocessing_or_decoding_place(
    workspace, tmp_path, capsys, option, recorded, now
):
    model = save_resnet(tmp_path / "model")
    output = tmp_path / "out"
    assert main(run_args(workspace, model, output)) == 0
    capsys.readouterr()
    assert main(run_args(workspace, model, output, option, now)) == 2
    error = capsys.readouterr().err
    assert f"preprocess_on: recorded '{recorded}', now '{now}'" in error
    assert main(run_args(workspace, model, output, "--decode-on", "device")) == 2
    assert "decode_on: recorded 'cpu', now 'device'" in capsys.readouterr().err
    # A folder recorded before these choices existed was fed on the CPU: it resumes as such.
    identity_path = output / "run_identity.json"
    identity = json.loads(identity_path.read_text())
    del identity["preprocess_on"], identity["decode_on"]
    identity_path.write_text(json.dumps(identity))
    assert main(run_args(workspace, model, output)) == 0
    assert main(run_args(workspace, model, output, option, now)) == 2


@pytest.mark.parametrize("option", ["--preprocess-on", "--decode-on"])
def test_undecodable_images_on_the_device_paths_are_named_and_the_rest_kept(
    workspace, tmp_path, capsys, option
):
    ids = workspace["image_ids"]
    folder = make_val_folder(tmp_path / "images", ids, class_subfolders=False)
    garbage, truncated = (classes.file_name_from_image_id(i) for i in ids[-2:])
    (folder / garbage).write_bytes(b"not a jpeg")
    whole = photo_like_jpeg(97, 98)
    (folder / truncated).write_bytes(whole[: len(whole) // 2])
    extra = ("--skip-image-check", "--split", "all", option, "device")
    args = run_args(workspace, workspace["resnet"], tmp_path / "out", *extra)
    assert main(with_option(args, "--images", str(folder))) == 2
    error = capsys.readouterr().err
    assert garbage in error and truncated in error
    predicted = read_predictions(tmp_path / "out" / "predictions.jsonl").file_names.tolist()
    assert len(predicted) == len(ids) - 2


def test_an_assumed_label_space_is_said_when_the_run_starts(workspace, tmp_path, capsys):
    """A model whose labels are transformers' placeholders runs on an assumption: it is said,
    not only recorded."""
    model = save_resnet(tmp_path / "model")  # LABEL_0..LABEL_999
    assert main(run_args(workspace, model, tmp_path / "out")) == 0
    error = capsys.readouterr().err
    assert f"note: {model}: label space assumed: 1000-way head in ImageNet index order" in error
