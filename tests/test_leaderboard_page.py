"""leaderboard.html: one offline page, the same table as leaderboard.md, outside text kept text,
and sorting, filtering, search, hover and selection in a real headless browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_fixtures import headless_chromium, missing_browser_reason
from imagenet_multilabel.dataset_script.annotations.published import PUBLISHED_SHA256
from imagenet_multilabel.dataset_script.taxonomy.categories import CATEGORIES
from imagenet_multilabel.eval_cli.analysis.review import page_script
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.leaderboard import board as leaderboard
from imagenet_multilabel.eval_cli.leaderboard import category_bars
from imagenet_multilabel.eval_cli.leaderboard import html as page
from imagenet_multilabel.eval_cli.leaderboard.ranking import build_leaderboard
from imagenet_multilabel.eval_cli.leaderboard.table import COLUMNS, NUMERIC_COLUMNS

ASSETS = Path(page.__file__).parent / "page_assets"
HOSTILE = '</script><script>window.__injected = 1</script><img src=x onerror="__injected=2">'
MARKUP_MODEL = '<img src=x onerror="window.__injected=3">'  # a model id is cut at "/"
NAMES = (
    "timm/resnet50.a1_in1k",
    "timm/convnext_base.fb_in22k_ft_in1k",
    "timm/vit_base_patch16_224.augreg_in21k_ft_in1k",
    "timm/convnext_tiny.in12k_ft_in1k",
    "timm/efficientnet_b3.ra2_in1k",
    "microsoft/resnet-50",
)


def result_document(index: int, model: str, *, verified: bool = True) -> dict[str, Any]:
    """A results document as `run --split all` writes it, numbers spread by ``index``; on the
    published labels, or on the test's own (``verified=False``: flagged)."""
    top1 = 0.60 + 0.0025 * (index % 120)
    return {
        "metrics": {
            "validation": {
                "multilabel_accuracy": min(0.99, top1 + 0.05),
                "multilabel_accuracy_strict": top1 + 0.03,
                "multilabel_accuracy_micro": top1 + 0.051,
                "top1_accuracy_original": top1,
                "num_outside_label_set": 100 + index,
                "num_classes_covered": 1000,
                "num_missing_predictions": 0,
            },
            "imagenet_m": {
                "imagenet_m_total": 68,
                "imagenet_m_correct": 5 + index % 40,
                "num_missing_predictions": 0,
            },
        },
        "complete": True,
        "labels": {"version": "3.0.0", "sha256": PUBLISHED_SHA256, "verified": True}
        if verified
        else {"version": "unverified", "sha256": "b" * 64, "verified": False},
        "predictions": {"file": "predictions.jsonl"},
        "model": {"id": model, "revision": "main", "kind": "timm"},
        "environment": {"created_at": f"2026-01-01T00:{index // 60:02d}:{index % 60:02d}+00:00"},
    }


def write_results(
    root: Path, count: int, *, hostile: bool = False, flagged_every: int = 5
) -> list[Path]:
    """``count`` run folders; every ``flagged_every``-th result flagged (unverified labels);
    with ``hostile``, one model's id and revision are markup, one run folder is named like a
    javascript: URL and one in Latin-1."""
    paths = []
    for index in range(count):
        model = f"{NAMES[index % len(NAMES)].rsplit('.', 1)[0]}_{index}"
        if "." in NAMES[index % len(NAMES)]:
            model += "." + NAMES[index % len(NAMES)].rsplit(".", 1)[1]
        document = result_document(
            index, model, verified=index % flagged_every != flagged_every - 1
        )
        if hostile and index == 1:
            document["model"].update(id=MARKUP_MODEL, revision=HOSTILE)
        odd_names = {2: "javascript:alert(1)", 3: "caf\udce9"}  # a URL; a Latin-1 name
        folder = root / (odd_names[index] if hostile and index in odd_names else f"run_{index:03d}")
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(document))
        (folder / "predictions.jsonl").write_text("")
        paths.append(folder)
    return paths


def _data_block(text: str) -> str:
    return text.split('<script type="application/json" id="board-data">')[1].split("</script>")[0]


def _page(root: Path, count: int, **options: Any) -> tuple[dict[str, Any], str]:
    folders = write_results(root / "runs", count, **options)
    board = build_leaderboard(folders)
    text = page.render_page(board, root / "board")
    return json.loads(_data_block(text)), text


def test_the_page_has_the_tables_columns_and_each_models_facts(tmp_path):
    data, _ = _page(tmp_path, 6)
    names = [column["name"] for column in data["columns"]]
    table = [name for name, _ in COLUMNS]
    assert [name for name in names if name not in ("family", "pretraining")] == table
    assert names.index("family") == names.index("revision") + 1
    numeric = {column["name"] for column in data["columns"] if column["numeric"]}
    assert numeric == NUMERIC_COLUMNS
    rows = {row["cells"][names.index("model")]: row for row in data["rows"]}
    convnext = rows["timm/convnext_base_1.fb_in22k_ft_in1k"]["cells"]
    assert convnext[names.index("family")] == "ConvNeXt"
    assert convnext[names.index("pretraining")] == "ImageNet-22k"
    assert rows["microsoft/resnet-50_5"]["cells"][names.index("pretraining")] == "unknown"
    assert rows["timm/efficientnet_b3_4.ra2_in1k"]["status"] == "flagged"
    assert rows["timm/resnet50_0.a1_in1k"]["status"] == "official"
    # the plots draw what the PNGs draw: the complete results on one label version
    multilabel = data["plots"][0]
    assert multilabel["id"] == "multilabel_vs_top1" and multilabel["diagonal"]
    assert len(multilabel["points"]) == 5  # the flagged one is on another (unverified) version


def test_embedded_data_cannot_close_its_script_block_and_links_stay_files(tmp_path):
    data, text = _page(tmp_path, 6, hostile=True)
    block = _data_block(text)
    assert "<" not in block
    assert [MARKUP_MODEL, HOSTILE] in [row["cells"][1:3] for row in data["rows"]]
    assert text.count("<script") == 2 and "window.__injected" not in text.replace(block, "")
    links = [row["results"] for row in data["rows"] if row["results"]]
    assert "../runs/javascript%3Aalert%281%29/results.json" in links
    assert "../runs/caf%E9/results.json" in links  # the folder's own bytes
    assert all(not link.startswith(("javascript:", "/")) for link in links)
    predictions = [row["predictions"] for row in data["rows"]]
    assert "../runs/run_000/predictions.jsonl" in predictions


def test_only_the_pages_own_script_and_style_may_run_and_nothing_is_loaded(tmp_path):
    _, text = _page(tmp_path, 2)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1)
    for tag, asset in (("script", "board.js"), ("style", "board.css")):
        source = (ASSETS / asset).read_text(encoding="utf-8")
        source = page_script(source) if tag == "script" else source
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy
        assert f"<{tag}>{source}</{tag}>" in text
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    script = page_script((ASSETS / "board.js").read_text())
    for html_sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert html_sink not in script
    for asset in ("index.html", "board.css", "board.js"):
        content = (ASSETS / asset).read_text()
        # url(#id) names one of the page's own elements (a clip path): nothing to load
        assert not re.search(r"https?://|//cdn|@import|fetch\(|XMLHttpRequest|url\((?!#)", content)


def test_the_leaderboard_command_writes_the_page(tmp_path, annotation_file):
    folders = write_results(tmp_path / "runs", 3, flagged_every=1)  # on the test's labels
    args = ["leaderboard", *map(str, folders), "--output-dir", str(tmp_path / "board")]
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    assert main([*args, *labels]) == 0
    data = json.loads(_data_block((tmp_path / "board" / "leaderboard.html").read_text()))
    statuses = [row["status"] for row in data["rows"]]
    assert statuses == ["flagged"] * 3 + ["reference"] * 2
    references = data["plots"][0]["references"]
    assert [reference["row"] for reference in references] == [3, 4]
    assert "ViT-3B (paper reference)" in references[0]["legend"]


def _wait_ready(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.documentElement.dataset.ready") == "true"
    )


def _column(driver, name: str) -> list[str]:
    index = [c["name"] for c in page.page_columns()].index(name)
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#rows tr'), "
        "tr => tr.cells[arguments[0]].textContent)",
        index,
    )


def test_sort_filter_search_hover_and_select_in_a_headless_browser(tmp_path):
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"no headless browser: {reason}")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    count = 130  # more than one page of rows
    folders = write_results(tmp_path / "runs", count, hostile=True)
    board = leaderboard.write_leaderboard(folders, tmp_path / "board")
    driver = headless_chromium(tmp_path / "downloads")
    try:
        driver.get((tmp_path / "board" / leaderboard.PAGE_FILE).resolve().as_uri())
        _wait_ready(driver)
        assert driver.execute_script("return window.__injected") is None
        assert driver.find_element(By.ID, "shown-count").text == f"{count} of {count} results match"
        assert driver.find_element(By.ID, "rows-shown").text == f"Rows 1–100 of {count}"
        models = _column(driver, "model")
        assert models == [entry.model for entry in board.entries[:100]]
        driver.save_screenshot(str(tmp_path / "page.png"))

        # sort: numbers from the highest, again from the lowest; an empty cell last either way
        header = driver.find_elements(By.CSS_SELECTOR, "thead th button")
        names = [c["name"] for c in page.page_columns()]
        header[names.index("num_outside_label_set")].click()
        outside = [int(value) for value in _column(driver, "num_outside_label_set")]
        assert outside == sorted(outside, reverse=True) and outside[0] == 100 + count - 1
        header[names.index("num_outside_label_set")].click()
        assert _column(driver, "num_outside_label_set")[:2] == ["100", "101"]
        header[names.index("model")].click()
        assert _column(driver, "model")[0] == MARKUP_MODEL  # "<" sorts before letters

        # filters and search: rows and points alike
        Select(driver.find_element(By.ID, "filter-family")).select_by_value("ConvNeXt")
        families = set(_column(driver, "family"))
        assert families == {"ConvNeXt"}
        convnexts = [e for e in board.entries if e.family == "ConvNeXt"]
        assert len(_column(driver, "family")) == len(convnexts)
        drawn = driver.execute_script(
            "return document.querySelectorAll('#multilabel_vs_top1 circle:not(.hidden)').length"
        )
        assert drawn == len([e for e in convnexts if e in board.plotted])
        Select(driver.find_element(By.ID, "filter-pretraining")).select_by_value("ImageNet-22k")
        assert set(_column(driver, "pretraining")) == {"ImageNet-22k"}
        Select(driver.find_element(By.ID, "filter-status")).select_by_value("flagged")
        assert set(_column(driver, "flags")) == {"unverified"}
        Select(driver.find_element(By.ID, "filter-family")).select_by_value("")
        Select(driver.find_element(By.ID, "filter-pretraining")).select_by_value("")
        Select(driver.find_element(By.ID, "filter-status")).select_by_value("")
        search = driver.find_element(By.ID, "search")
        search.send_keys("resnet50 in1k")
        found = _column(driver, "model")
        assert found and all("resnet50" in m and "in1k" in m for m in found)
        search.clear()
        search.send_keys("onerror")  # in the markup model's id and revision, shown as text
        assert _column(driver, "model") == [MARKUP_MODEL]
        assert _column(driver, "revision") == [HOSTILE]
        search.clear()
        search.send_keys("no such model")
        assert driver.find_element(By.ID, "rows-shown").text == "No row matches the filters"
        search.clear()
        search.send_keys(" ")  # clear() sends no input event; a blank matches everything
        assert driver.find_element(By.ID, "shown-count").text.startswith(f"{count} of {count}")

        # hover names the model; click selects its row, pinned above when not on the page
        last = board.plotted[-1]  # drawn last, so on top of any point it overlaps
        row = board.entries.index(last)
        assert row >= 100  # not on the first page of rows
        point = driver.find_element(
            By.CSS_SELECTOR, f"#multilabel_vs_top1 circle[data-row='{row}']"
        )
        ActionChains(driver).move_to_element(point).perform()
        tooltip = driver.find_element(By.ID, "tooltip")
        assert tooltip.is_displayed() and tooltip.text.startswith(last.model)
        point.click()
        pinned = driver.find_elements(By.CSS_SELECTOR, "#pinned tr.selected")
        assert len(pinned) == 1 and pinned[0].find_elements(By.TAG_NAME, "td")[1].text == last.model
        assert (
            driver.execute_script("return document.querySelectorAll('circle.selected').length") == 2
        )  # its point in both plots
        label = driver.find_element(By.CSS_SELECTOR, "#multilabel_vs_top1 .selected-label")
        assert label.text == last.model
        assert not driver.find_element(By.ID, "show-all").is_displayed()  # one page more
        show_more = driver.find_element(By.ID, "show-more")
        assert show_more.text == f"Show {count - 100} more"
        show_more.click()
        assert len(_column(driver, "model")) == count
        assert driver.find_elements(By.CSS_SELECTOR, "#pinned tr") == []  # on the page now
        first_row = driver.find_element(By.CSS_SELECTOR, "#rows tr td.model")
        first_row.click()
        assert "selected" in driver.find_element(By.CSS_SELECTOR, "#rows tr").get_attribute("class")
        driver.save_screenshot(str(tmp_path / "page-selected.png"))

        # a narrow window: nothing wider than the window but the table, which scrolls
        driver.set_window_size(420, 900)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0
        driver.save_screenshot(str(tmp_path / "page-narrow.png"))
    finally:
        driver.quit()


def test_the_mistakes_by_category_are_drawn_from_the_tables_cells(tmp_path):
    """The page's bars: one per result with automatic categories, highest top-1 first, its
    segments the table's own auto_* cells, following the filters; a click selects the row."""
    reason = missing_browser_reason()
    if reason:
        pytest.skip(f"no headless browser: {reason}")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    folders = write_results(tmp_path / "runs", 70, flagged_every=1000)
    for index, folder in enumerate(folders):  # categories for all but the last
        if index == len(folders) - 1:
            continue
        document = json.loads((folder / "results.json").read_text())
        counts = dict.fromkeys(CATEGORIES, 1 + index % 7)
        not_available = {} if index % 2 else {"fine-grained-oov": ["model-failure"]}
        document["mistakes"] = {
            "by_source": {},
            "auto_categories": {"categories": counts, "not_available": not_available},
        }
        (folder / "results.json").write_text(json.dumps(document))
    board = leaderboard.write_leaderboard(folders, tmp_path / "board")
    driver = headless_chromium(tmp_path / "downloads")
    try:
        driver.get((tmp_path / "board" / leaderboard.PAGE_FILE).resolve().as_uri())
        _wait_ready(driver)
        groups = driver.find_elements(By.CSS_SELECTOR, "#error_categories svg g[data-row]")
        assert len(groups) == category_bars.MAX_BARS  # of the 69 with categories
        rows = [int(group.get_attribute("data-row")) for group in groups]
        tops = [board.entries[row].x for row in rows]
        assert tops == sorted(tops, reverse=True)
        first = board.entries[rows[0]]
        drawn = [c for c in CATEGORIES if c not in first.mistakes["auto_not_available"]]
        segments = groups[0].find_elements(By.TAG_NAME, "rect")  # "n/a": not drawn
        assert [s.get_attribute("fill") for s in segments] == [
            category_bars.CATEGORY_COLORS[c] for c in drawn
        ]
        name = groups[0].find_element(By.CLASS_NAME, "name").text
        star = " *" if first.mistakes["auto_not_available"] else ""
        assert name.startswith(first.model[:40]) and name.endswith(f"%){star}")
        notes = driver.find_element(By.CSS_SELECTOR, "#error_categories .bar-notes").text
        assert "image rules did not run" in notes and "highest top-1 of the 69" in notes
        Select(driver.find_element(By.ID, "filter-family")).select_by_value("ConvNeXt")
        shown = driver.find_elements(By.CSS_SELECTOR, "#error_categories svg g[data-row]")
        convnexts = [e for e in category_bars.category_entries(board) if e.family == "ConvNeXt"]
        assert len(shown) == len(convnexts) > 0
        clicked = int(shown[0].get_attribute("data-row"))
        shown[0].find_element(By.TAG_NAME, "rect").click()  # the bars are drawn again
        selected = driver.find_element(By.CSS_SELECTOR, "tr.selected td.model").text
        assert selected == board.entries[clicked].model
        bar = driver.find_element(By.CSS_SELECTOR, f"#error_categories g[data-row='{clicked}']")
        assert bar.get_attribute("class") == "selected"
        driver.save_screenshot(str(tmp_path / "page-bars.png"))
    finally:
        driver.quit()
