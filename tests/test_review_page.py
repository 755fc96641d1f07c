"""The review page: offline, escaped data, thumbnails written once, verdicts in a real browser."""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from browser_fixtures import headless_chromium, missing_browser_reason
from image_fixtures import make_val_tar
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.labels import patches
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.dataset_script.taxonomy import categories, experts
from imagenet_multilabel.eval_cli.analysis import review
from imagenet_multilabel.eval_cli.analysis.analyze import analyze_predictions
from imagenet_multilabel.eval_cli.scores.score import score_predictions
from mistake_fixtures import NUM_OUTSIDE_LABEL_SET, write_loop_inputs
from PIL import Image

BASE = "ab" * 32
LABELS = {"sha256": BASE, "version": "3.0.0"}
HOSTILE = '</script><script>window.__injected = 1</script><!--<img src=x onerror="x()">'
SOURCES = ("expert", "outside-label-set", "confusion-pair", "uncategorized")
NUM_RECORDS = 40


def _records() -> list[dict[str, Any]]:
    """Mistake records as ``eval_cli.analysis`` writes them; ten of each source."""
    records = []
    for image_id in range(1, NUM_RECORDS + 1):
        source = SOURCES[image_id % len(SOURCES)]
        prediction = (image_id * 37) % classes.NUM_CLASSES
        expert = source == "expert"
        records.append(
            {
                "file_name": classes.file_name_from_image_id(image_id),
                "original_label": int(classes.validation_labels()[image_id - 1]),
                "prediction": prediction,
                "top5": [prediction, 1, 2, 3, 4],
                "top5_probs": [0.4, 0.3, 0.1, 0.1, 0.05],
                "correct": [int(classes.validation_labels()[image_id - 1])],
                "unclear": [],
                "wrong": [] if source == "outside-label-set" else [prediction],
                "source": source,
                "outside_label_set": source == "outside-label-set",
                "category": experts.CATEGORIES[image_id % 5] if expert else "",
                "severity": experts.SEVERITIES[image_id % 3] if expert else "",
                "in_imagenet_m": image_id % 7 == 0,
            }
        )
    return records


def _wide_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _data_block(html: str) -> str:
    return html.split('<script type="application/json" id="review-data">')[1].split("</script>")[0]


def test_embedded_data_cannot_close_its_script_block(tmp_path: Path) -> None:
    page = review.write_review_page(tmp_path, _records(), labels=LABELS, title=HOSTILE)
    html = page.read_text(encoding="utf-8")
    block = _data_block(html)
    assert "<" not in block
    assert json.loads(block)["title"] == HOSTILE
    assert html.count("<script") == 2  # the data block and the page's own script
    assert "window.__injected" not in html.replace(block, "")


def test_page_script_builds_the_dom_from_text_only_and_loads_nothing_remote() -> None:
    script = review.page_script(
        (Path(review.__file__).parent / "review_assets" / "review.js").read_text()
    )
    for html_sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert html_sink not in script
    for asset in ("index.html", "review.css", "review.js", "dom.js"):
        text = (Path(review.__file__).parent / "review_assets" / asset).read_text()
        assert not re.search(r"https?://|//cdn|@import|fetch\(|XMLHttpRequest", text), asset


def _thumbnail_entries(page: Path) -> list[tuple[Any, Any]]:
    data = json.loads(_data_block(page.read_text(encoding="utf-8")))
    return [(m["thumbnail"], m["thumbnail_problem"]) for m in data["records"]]


def _red(path: Path) -> int:
    with Image.open(path) as image:
        return image.convert("RGB").getpixel((0, 0))[0]


def test_thumbnails_are_small_jpegs_keyed_by_the_image_bytes(tmp_path: Path) -> None:
    records = _records()
    tar = make_val_tar(tmp_path / "val.tar", range(1, NUM_RECORDS + 1), {1: _wide_jpeg(900, 300)})
    folder = tmp_path / "out" / review.REVIEW_FOLDER
    review.write_thumbnails(folder, [r["file_name"] for r in records], str(tar))
    page = review.write_review_page(tmp_path / "out", records, labels=LABELS, title="t")
    thumbnails = sorted((folder / review.THUMBNAIL_FOLDER).iterdir())
    assert len(thumbnails) == 2 * NUM_RECORDS  # each with its enlarged copy
    before = [thumbnail for thumbnail, _ in _thumbnail_entries(page)]
    first = before[0]
    with Image.open(folder / first) as wide:
        assert wide.format == "JPEG" and wide.size == (256, 85)
    enlarged = json.loads(_data_block(page.read_text(encoding="utf-8")))["records"][0]["enlarged"]
    with Image.open(folder / enlarged) as wide:
        assert wide.format == "JPEG" and wide.size == (640, 213)
    modified = {path: path.stat().st_mtime_ns for path in thumbnails}
    review.write_thumbnails(folder, [r["file_name"] for r in records], str(tar))
    assert {path: path.stat().st_mtime_ns for path in thumbnails} == modified  # same bytes: reused

    # Another source, other bytes under the same file name: a new thumbnail, never the old one.
    blue = io.BytesIO()
    Image.new("RGB", (300, 300), (20, 40, 220)).save(blue, format="JPEG")
    other = make_val_tar(tmp_path / "other.tar", range(1, NUM_RECORDS + 1), {1: blue.getvalue()})
    review.write_thumbnails(folder, [r["file_name"] for r in records], str(other))
    page = review.write_review_page(tmp_path / "out", records, labels=LABELS, title="t")
    rebuilt = _thumbnail_entries(page)[0][0]
    assert rebuilt != first and _red(folder / first) > 150 and _red(folder / rebuilt) < 100
    after = [thumbnail for thumbnail, _ in _thumbnail_entries(page)]
    assert after[1:] == before[1:]  # the other images' bytes are the same: thumbnails kept

    page = review.write_review_page(tmp_path / "out", records, labels=LABELS, title="t")
    assert [thumbnail for thumbnail, _ in _thumbnail_entries(page)] == after  # no source: last


def test_an_image_queued_for_several_classes_gets_one_thumbnail(tmp_path: Path) -> None:
    names = [classes.file_name_from_image_id(image_id) for image_id in (1, 2, 1, 1)]
    tar = make_val_tar(tmp_path / "val.tar", range(1, 3))
    folder = tmp_path / review.REVIEW_FOLDER
    written = review.write_thumbnails(folder, names, str(tar))
    assert sorted(written) == sorted(set(names))
    assert len(list((folder / review.THUMBNAIL_FOLDER).iterdir())) == 2 * 2  # and enlarged


def test_an_image_that_does_not_decode_leaves_its_reason_on_the_card(tmp_path: Path) -> None:
    records = _records()[:3]
    truncated = _wide_jpeg(400, 400)[:200]
    tar = make_val_tar(tmp_path / "val.tar", range(1, 4), {2: truncated})
    folder = tmp_path / "out" / review.REVIEW_FOLDER
    review.write_thumbnails(folder, [r["file_name"] for r in records], str(tar))
    page = review.write_review_page(tmp_path / "out", records, labels=LABELS, title="t")
    (good, none), (missing, problem), _ = _thumbnail_entries(page)
    assert good is not None and none is None
    assert missing is None and "ILSVRC2012_val_00000002.JPEG" in problem
    script = (Path(review.__file__).parent / "review_assets" / "review.js").read_text()
    assert "no thumbnail: ${m.thumbnail_problem}" in script


def _wait_for(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the browser")


def test_the_review_loop_in_a_headless_browser(tmp_path: Path) -> None:
    """analyze -> open the page, filter, record two verdicts, reload, export -> score with the
    exported patch: the number changes."""
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"no headless browser: {reason}")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    inputs = write_loop_inputs(tmp_path)
    tar = make_val_tar(tmp_path / "val.tar", inputs["mistake_image_ids"])
    label_source = LabelSource(annotations=inputs["annotations"], allow_unverified=True)
    before = analyze_predictions(
        inputs["predictions"],
        output_dir=tmp_path / "analysis",
        images=str(tar),
        title=HOSTILE,
        labels=label_source,
    )
    total = before["mistakes"]["num_rejected"]
    outside_name, outside_class = inputs["outside_label_set"][0]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = headless_chromium(downloads)
    try:
        driver.get(review.page_path(tmp_path / "analysis").as_uri())
        shown = driver.find_element(By.ID, "shown-count")
        assert shown.text.startswith(f"{total} of {total} mistakes shown")
        assert driver.title == HOSTILE
        assert (
            driver.execute_script("return document.querySelector('img').naturalWidth") > 0
        )  # thumbnails load from file://
        show_more = driver.find_element(By.ID, "show-more")
        assert show_more.is_displayed()  # more than a page of mistakes
        source = Select(driver.find_element(By.ID, "filter-source"))
        assert [o.text for o in source.options][2] == (
            "outside-label-set: outside the label set, not reviewed by the experts "
            f"({NUM_OUTSIDE_LABEL_SET})"
        )
        label_set = Select(driver.find_element(By.ID, "filter-label-set"))
        assert label_set.options[1].text == f"outside the label set ({NUM_OUTSIDE_LABEL_SET})"
        source.select_by_value("outside-label-set")
        assert shown.text == f"{NUM_OUTSIDE_LABEL_SET} of {total} mistakes shown"
        assert not show_more.is_displayed()  # everything is shown
        driver.save_screenshot(str(tmp_path / "review-page.png"))
        source.select_by_value("")
        _check_automatic_categories(driver, tmp_path / "analysis", total)
        source.select_by_value("outside-label-set")
        Select(driver.find_element(By.ID, "filter-class")).select_by_value(str(outside_class))
        cards = driver.find_elements(By.CSS_SELECTOR, "article.mistake")
        assert outside_name in [card.get_attribute("data-file-name") for card in cards]
        card = next(c for c in cards if c.get_attribute("data-file-name") == outside_name)
        card.find_element(By.CSS_SELECTOR, "input[value=correct]").click()
        card.find_element(By.CSS_SELECTOR, "textarea").send_keys(HOSTILE)
        Select(driver.find_element(By.ID, "filter-class")).select_by_value("")
        Select(driver.find_element(By.ID, "filter-source")).select_by_value("expert")
        Select(driver.find_element(By.ID, "filter-severity")).select_by_value("major")
        card = driver.find_element(By.CSS_SELECTOR, "article.mistake")
        expert_name = card.get_attribute("data-file-name")
        card.find_element(By.TAG_NAME, "summary").click()
        card.find_element(By.CSS_SELECTOR, "input[value=unclear]").click()
        Select(card.find_element(By.CSS_SELECTOR, "select[aria-label=category]")).select_by_value(
            "non-prototypical"
        )
        assert driver.find_element(By.ID, "verdict-count").text == "2 verdicts recorded"
        Select(driver.find_element(By.ID, "filter-source")).select_by_value("")
        Select(driver.find_element(By.ID, "filter-severity")).select_by_value("")
        yours = Select(driver.find_element(By.ID, "filter-verdict"))
        assert [o.text for o in yours.options][1:] == [
            f"not yet judged (by you) ({total - 2})",
            "judged by you (2)",
        ]
        yours.select_by_value("judged")
        assert shown.text == f"2 of {total} mistakes shown"

        driver.refresh()
        assert driver.find_element(By.ID, "verdict-count").text == "2 verdicts recorded"
        assert driver.execute_script("return window.__injected") is None
        card = driver.find_element(By.CSS_SELECTOR, f"article[data-file-name='{outside_name}']")
        assert card.find_element(By.CSS_SELECTOR, "input[value=correct]").is_selected()
        assert card.find_element(By.CSS_SELECTOR, "textarea").get_attribute("value") == HOSTILE
        driver.find_element(By.ID, "reviewer").send_keys("Reviewer <b>One</b>")
        driver.find_element(By.ID, "download-patch").click()
        exported = _wait_for(lambda: list(downloads.glob("label-patch-*.json")))
    finally:
        driver.quit()

    patch = patches.read_patch(exported[0])
    assert patch.base == inputs["sha256"] and patch.reviewer == "Reviewer <b>One</b>"
    expert_class = experts.model_mistakes("vit3b")[expert_name].prediction
    decided = {(d.file_name, d.class_id): (d.verdict, d.category, d.note) for d in patch.decisions}
    assert decided == {
        (outside_name, outside_class): ("correct", None, HOSTILE.strip()),
        (expert_name, expert_class): ("unclear", "non-prototypical", None),
    }
    after = score_predictions(
        inputs["predictions"], split="all", labels=replace(label_source, patches=(exported[0],))
    )
    old, new = before["metrics"]["validation"], after["metrics"]["validation"]
    assert (new["num_outside_label_set"], new["num_mistakes"]) == (
        old["num_outside_label_set"] - 1,
        old["num_mistakes"] - 1,
    )
    assert new["multilabel_accuracy_micro"] == pytest.approx(
        old["multilabel_accuracy_micro"] + 2 / old["num_scored"]
    )


def _check_automatic_categories(driver: Any, output: Path, total: int) -> None:
    """The automatic category: filtered by family or category (counts as in mistakes.jsonl),
    sorted in rule order, shown with its evidence on each card."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    lines = (output / "mistakes.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    shown = driver.find_element(By.ID, "shown-count")
    automatic = Select(driver.find_element(By.ID, "filter-auto-category"))
    failures = sum(r["auto_family"] == "failure" for r in records)
    fine_grained = sum(r["auto_category"] == "fine-grained" for r in records)
    texts = [option.text for option in automatic.options]
    assert texts[:4] == [
        "any",
        f"minor (family) ({sum(r['auto_family'] == 'minor' for r in records)})",
        f"explainable (family) ({sum(r['auto_family'] == 'explainable' for r in records)})",
        f"failure (family) ({failures})",
    ]
    assert f"fine-grained ({fine_grained})" in texts
    automatic.select_by_value("family:failure")
    assert shown.text.startswith(f"{failures} of {total} mistakes shown")
    card = driver.find_element(By.CSS_SELECTOR, "article.mistake")
    record = next(r for r in records if r["file_name"] == card.get_attribute("data-file-name"))
    assert "auto: model-failure" in card.find_element(By.CLASS_NAME, "badges").text
    assert card.find_element(By.CLASS_NAME, "evidence").text == record["auto_evidence"]
    automatic.select_by_value("")
    Select(driver.find_element(By.ID, "sort")).select_by_value("auto")
    order = [
        c.get_attribute("data-file-name")
        for c in driver.find_elements(By.CSS_SELECTOR, "article.mistake")
    ]
    ranks = {r["file_name"]: categories.CATEGORIES.index(r["auto_category"]) for r in records}
    assert [ranks[name] for name in order] == sorted(ranks[name] for name in order)
    driver.save_screenshot(str(output.parent / "review-page-auto.png"))
    Select(driver.find_element(By.ID, "sort")).select_by_value("page")


def _second_model(inputs: dict[str, Any], path: Path, moved: int) -> Path:
    """The loop's predictions with the first ``moved`` outside-label-set images predicted as
    another class outside the label set, more confidently (0.9): each such image queues two
    classes, one per model."""
    changed = {
        name: (class_id + 999) % 1000 for name, class_id in inputs["outside_label_set"][:moved]
    }
    lines = []
    for text in inputs["predictions"].read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        if record["file_name"] in changed:
            record["prediction"] = changed[record["file_name"]]
            record["top5"] = [record["prediction"], 1, 2, 3, 4]
            record["top5_probs"] = [0.9, 0.04, 0.03, 0.02, 0.01]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_queue_review_loop_across_models_in_a_headless_browser(tmp_path: Path, capsys) -> None:
    """compare --images -> the queue page: every model's prediction, sort, keyboard verdicts,
    progress, two reviewers' exports -> patches merge -> score again: the number changes."""
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"no headless browser: {reason}")
    from imagenet_multilabel.eval_cli.commands import cli
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select

    inputs = write_loop_inputs(tmp_path)
    first = inputs["predictions"].rename(tmp_path / "model_a.jsonl")
    inputs["predictions"] = first
    second = _second_model(inputs, tmp_path / "model_b.jsonl", moved=3)
    tar = make_val_tar(tmp_path / "val.tar", inputs["mistake_image_ids"])
    labels = ["--annotations", str(inputs["annotations"]), "--allow-unverified-annotations"]
    out = tmp_path / "compare"
    argv = ["compare", str(first), str(second), "--output-dir", str(out), *labels]
    assert cli.main([*argv, "--images", str(tar)]) == 0
    assert "Review page: file://" in capsys.readouterr().out
    queue = [json.loads(line) for line in (out / "queue.jsonl").read_text().splitlines()]
    total = NUM_OUTSIDE_LABEL_SET + 3
    assert len(queue) == total
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = headless_chromium(downloads)

    def cards() -> list[Any]:
        return driver.find_elements(By.CSS_SELECTOR, "article.mistake")

    def export(reviewer: str, count: int) -> Path:
        name = driver.find_element(By.ID, "reviewer")
        name.clear()
        name.send_keys(reviewer)
        driver.find_element(By.ID, "download-patch").click()
        files = _wait_for(
            lambda: (
                [p for p in downloads.glob("*.json") if p.stat().st_size]
                if len(list(downloads.glob("*.json"))) == count
                else None
            )
        )
        time.sleep(0.3)
        return max(files, key=lambda path: path.stat().st_mtime_ns)

    try:
        driver.get(review.page_path(out).as_uri())
        assert driver.find_element(By.ID, "shown-count").text == (
            f"{total} of {total} queued predictions shown"
        )
        assert driver.find_element(By.ID, "progress").text == f"0 of {total} reviewed"
        top = cards()[0]
        assert top.get_attribute("data-file-name") == queue[0]["file_name"]
        assert "queue #1" in top.text
        assert "model_a: " in top.text and "model_b: " in top.text  # every model's prediction
        assert f"auto: {queue[0]['auto_category']}" in top.text  # its automatic category
        assert queue[0]["auto_evidence"] in top.text
        assert driver.execute_script("return document.querySelector('img').naturalWidth") > 0
        sort = Select(driver.find_element(By.ID, "sort"))
        assert [o.text for o in sort.options] == [
            "queue order",
            "confidence (highest first)",
            "class",
            "automatic category (minor first)",
            "file",
        ]
        sort.select_by_value("file")
        files = [card.get_attribute("data-file-name") for card in cards()]
        assert files == sorted(files) and files != [item["file_name"] for item in queue]
        sort.select_by_value("confidence")
        assert "90.0%" in cards()[0].text and "60.0%" in cards()[-1].text
        sort.select_by_value("class")
        shown_classes = [
            next(
                i["class_id"]
                for i in queue
                if i["file_name"] == c.get_attribute("data-file-name")
                and str(i["class_id"]) in c.find_element(By.CLASS_NAME, "prediction").text
            )
            for c in cards()
        ]
        assert shown_classes == sorted(shown_classes)
        sort.select_by_value("page")
        assert [c.get_attribute("data-file-name") for c in cards()] == [
            item["file_name"] for item in queue
        ]

        body = driver.find_element(By.TAG_NAME, "body")
        ActionChains(driver).send_keys("j").perform()  # to the focused element: not the sort
        assert "current" in cards()[0].get_attribute("class")
        body.send_keys("1")  # correct on #1, then on to #2
        assert "current" in cards()[1].get_attribute("class")
        body.send_keys("3")  # wrong on #2
        body.send_keys(Keys.ARROW_UP)
        assert "current" in cards()[1].get_attribute("class")
        assert cards()[0].find_element(By.CSS_SELECTOR, "input[value=correct]").is_selected()
        assert cards()[1].find_element(By.CSS_SELECTOR, "input[value=wrong]").is_selected()
        assert driver.find_element(By.ID, "progress").text == f"2 of {total} reviewed"
        below_header = (
            "return arguments[0].getBoundingClientRect().top >= "
            "document.querySelector('header').getBoundingClientRect().bottom"
        )
        assert driver.execute_script(below_header, cards()[1])  # the sticky header hides nothing
        driver.save_screenshot(str(tmp_path / "queue-review.png"))
        one = export("One", 1)
        body.send_keys("2")  # the second reviewer: unclear on #2, agreeing on #1
        assert driver.find_element(By.ID, "progress").text == f"2 of {total} reviewed"
        two = export("Two", 2)
    finally:
        driver.quit()

    merged = tmp_path / "merged.json"
    assert cli.main(["patches", "merge", str(one), str(two), "--output", str(merged)]) == 0
    merged_patch = patches.read_patch(merged)
    assert [(d.file_name, d.class_id, d.verdict) for d in merged_patch.decisions] == [
        (queue[0]["file_name"], queue[0]["class_id"], "correct")
    ]
    model = first if queue[0]["models"] == ["model_a"] else second
    scores = []
    for patch in ([], ["--label-patch", str(merged)]):
        results = tmp_path / f"results{len(patch)}.json"
        cli.main(["score", "--predictions", str(model), *labels, *patch, "--output", str(results)])
        scores.append(json.loads(results.read_text())["metrics"]["validation"])
    assert scores[1]["num_outside_label_set"] == scores[0]["num_outside_label_set"] - 1
    assert scores[1]["multilabel_accuracy_micro"] > scores[0]["multilabel_accuracy_micro"]


def test_filters_whole_pictures_enlarged_and_where_verdicts_are_kept(tmp_path: Path) -> None:
    """The Source filter's chosen text is shown whole (it was cut at 260 px); a click on a
    thumbnail shows its larger copy, Escape closes it; the page says where verdicts are kept."""
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"no headless browser: {reason}")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select

    records = _records()
    photos = {image_id: _wide_jpeg(500, 375) for image_id in range(1, NUM_RECORDS + 1)}
    tar = make_val_tar(tmp_path / "val.tar", range(1, NUM_RECORDS + 1), photos)
    review.write_thumbnails(
        tmp_path / review.REVIEW_FOLDER, [r["file_name"] for r in records], str(tar)
    )
    page = review.write_review_page(tmp_path, records, labels=LABELS, title="t")
    driver = headless_chromium(tmp_path)
    try:
        driver.get(page.as_uri())
        source = driver.find_element(By.ID, "filter-source")
        Select(source).select_by_value("outside-label-set")
        room, text = driver.execute_script(
            """const select = arguments[0], probe = document.createElement("span");
            probe.style.font = getComputedStyle(select).font;
            probe.style.whiteSpace = "pre";
            probe.textContent = select.options[select.selectedIndex].text;
            document.body.append(probe);
            const text = probe.getBoundingClientRect().width;
            probe.remove();
            return [select.clientWidth, text];""",
            source,
        )
        assert room >= text + 16, (room, text)  # the text and the arrow beside it
        note = driver.find_element(By.ID, "storage-note")
        assert note.is_displayed() and "kept in this browser's local storage" in note.text
        assert '"Download label patch" saves them as a file' in note.text
        card = driver.find_element(By.CSS_SELECTOR, "article.mistake")
        thumbnail = card.find_element(By.CSS_SELECTOR, ".thumb img")
        _wait_for(lambda: driver.execute_script("return arguments[0].complete", thumbnail))
        card.find_element(By.CSS_SELECTOR, "button.enlarge").click()
        dialog = driver.find_element(By.ID, "enlarged")
        assert driver.execute_script("return arguments[0].open", dialog)
        image = driver.find_element(By.ID, "enlarged-image")
        _wait_for(lambda: driver.execute_script("return arguments[0].naturalWidth", image))
        assert driver.execute_script("return arguments[0].naturalWidth", image) == 500  # whole
        assert image.size["width"] > 2 * thumbnail.size["width"]
        assert card.get_attribute("data-file-name") in dialog.text
        driver.save_screenshot(str(tmp_path / "enlarged.png"))
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        assert not driver.execute_script("return arguments[0].open", dialog)
        driver.set_window_size(1400, 1000)
        driver.save_screenshot(str(tmp_path / "filters.png"))
    finally:
        driver.quit()
