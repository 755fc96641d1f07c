// The review page's script (inlined into review/index.html by eval_cli/review.py).
// Every text from the data goes into the DOM through textContent or an attribute (el, byId:
// dom.js, inlined before this), never as HTML.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const names = data.class_names;
  const mistakes = data.records;  // analyze's mistakes or compare's queue: one record shape
  const PAGE_SIZE = 50;
  const STORE_KEY = "imagenet-multilabel-review/" + data.base;
  const REVIEWER_KEY = "imagenet-multilabel-review/reviewer";
  const ANY = "";
  const NONE = "(none)";
  // The sources of eval_cli/analysis.py, in words; every one but "expert" is a mistake not
  // reviewed by the paper's experts.
  const SOURCES = [
    ["expert", "expert: reviewed by the paper's experts"],
    ["outside-label-set", "outside-label-set: outside the label set, not reviewed by the experts"],
    ["confusion-pair", "confusion-pair: a class pair ViT-3B confused (heuristic)"],
    ["uncategorized", "uncategorized: judged wrong by the labels, nothing more known"],
  ];
  const JUDGED_BY_YOU = "judged", NOT_JUDGED_BY_YOU = "not-judged";

  const className = (id) => `${id} ${names[id]}`;
  const keyOf = (mistake) => `${mistake.file_name}|${mistake.prediction}`;

  // Verdicts: {"file|class": {file_name, class_id, verdict, category, severity, note}}.
  let storage = null;
  try {
    storage = window.localStorage;
    storage.setItem(STORE_KEY + "/probe", "1");
    storage.removeItem(STORE_KEY + "/probe");
  } catch (error) {
    storage = null;
  }
  byId("storage-warning").hidden = storage !== null;
  byId("storage-note").hidden = storage === null;
  let verdicts = {};
  try {
    verdicts = JSON.parse((storage && storage.getItem(STORE_KEY)) || "{}") || {};
  } catch (error) {
    verdicts = {};
  }
  const pageKeys = new Set(mistakes.map(keyOf));
  function saveVerdicts() {
    if (storage) storage.setItem(STORE_KEY, JSON.stringify(verdicts));
    updateVerdictCount();
    updateProgress();
    fillVerdictFilter();
  }
  function pageDecisions() {
    return Object.entries(verdicts)
      .filter(([key]) => pageKeys.has(key))
      .map(([, decision]) => decision)
      .sort((a, b) => a.file_name.localeCompare(b.file_name) || a.class_id - b.class_id);
  }
  function updateVerdictCount(message) {
    const count = pageDecisions().length;
    byId("verdict-count").textContent =
      message || `${count} verdict${count === 1 ? "" : "s"} recorded`;
  }

  function updateProgress() {
    const reviewed = mistakes.filter(isJudgedByYou).length;
    byId("progress").textContent = `${reviewed} of ${mistakes.length} reviewed`;
    byId("progress-bar").value = mistakes.length ? reviewed / mistakes.length : 0;
  }

  // Header and filters.
  document.title = data.title;
  byId("title").textContent = data.title;
  byId("labels").textContent =
    `${mistakes.length} ${data.kind.summary} · labels ${data.labels_version} ` +
    `(annotation file sha256 ${data.base})`;
  function count(values) {
    const counts = new Map();
    for (const value of values) counts.set(value, (counts.get(value) || 0) + 1);
    return counts;
  }
  function fillSelect(select, options) {
    select.replaceChildren(el("option", { value: ANY, text: "any" }));
    for (const [value, label] of options) select.append(el("option", { value, text: label }));
  }
  const withCount = (counts, value, label) => [value, `${label} (${counts.get(value) || 0})`];
  const sourceCounts = count(mistakes.map((m) => m.source));
  fillSelect(byId("filter-source"),
    SOURCES.map(([source, label]) => withCount(sourceCounts, source, label)));
  const labelSetCounts = count(mistakes.map((m) => String(m.outside_label_set)));
  fillSelect(byId("filter-label-set"), [
    withCount(labelSetCounts, "true", "outside the label set"),
    withCount(labelSetCounts, "false", "in the label set (judged wrong)"),
  ]);
  const isJudgedByYou = (mistake) => Boolean((verdicts[keyOf(mistake)] || {}).verdict);
  function fillVerdictFilter() {
    const select = byId("filter-verdict");
    const chosen = select.value;
    const judged = mistakes.filter(isJudgedByYou).length;
    fillSelect(select, [
      [NOT_JUDGED_BY_YOU, `not yet judged (by you) (${mistakes.length - judged})`],
      [JUDGED_BY_YOU, `judged by you (${judged})`],
    ]);
    select.value = chosen;
  }
  const categoryCounts = count(mistakes.map((m) => m.category || NONE));
  fillSelect(byId("filter-category"),
    [...data.categories, NONE].map((c) => withCount(categoryCounts, c, c)));
  // The automatic taxonomy: its families, then its categories in rule order.
  const AUTO_CATEGORIES = Object.values(data.auto_families).flat();
  const autoCounts = count(mistakes.flatMap((m) =>
    m.auto_category ? [m.auto_category, `family:${m.auto_family}`] : [NONE]));
  fillSelect(byId("filter-auto-category"), [
    ...Object.keys(data.auto_families).map((family) =>
      withCount(autoCounts, `family:${family}`, `${family} (family)`)),
    ...AUTO_CATEGORIES.map((category) => withCount(autoCounts, category, category)),
  ]);
  const severityCounts = count(mistakes.map((m) => m.severity || NONE));
  fillSelect(byId("filter-severity"),
    [...data.severities, NONE].map((s) => withCount(severityCounts, s, s)));
  const imagenetMCounts = count(mistakes.map((m) => String(m.in_imagenet_m)));
  fillSelect(byId("filter-imagenet-m"), [
    withCount(imagenetMCounts, "true", "in ImageNet-M"),
    withCount(imagenetMCounts, "false", "not in ImageNet-M"),
  ]);
  const classCounts = count(mistakes.flatMap((m) =>
    m.original_label === m.prediction ? [m.original_label] : [m.original_label, m.prediction]));
  fillSelect(byId("filter-class"), [...classCounts.keys()].sort((a, b) => a - b)
    .map((id) => withCount(classCounts, id, className(id))));

  function matches(mistake) {
    const source = byId("filter-source").value;
    const category = byId("filter-category").value;
    const auto = byId("filter-auto-category").value;
    const severity = byId("filter-severity").value;
    const imagenetM = byId("filter-imagenet-m").value;
    const classId = byId("filter-class").value;
    const labelSet = byId("filter-label-set").value;
    const verdict = byId("filter-verdict").value;
    return (source === ANY || mistake.source === source) &&
      (labelSet === ANY || String(mistake.outside_label_set) === labelSet) &&
      (verdict === ANY || (verdict === JUDGED_BY_YOU) === isJudgedByYou(mistake)) &&
      (category === ANY || (mistake.category || NONE) === category) &&
      (auto === ANY || mistake.auto_category === auto ||
        `family:${mistake.auto_family}` === auto) &&
      (severity === ANY || (mistake.severity || NONE) === severity) &&
      (imagenetM === ANY || String(mistake.in_imagenet_m) === imagenetM) &&
      (classId === ANY || mistake.original_label === Number(classId) ||
        mistake.prediction === Number(classId));
  }

  // Cards, built on first display and kept.
  const cards = new Map();
  function labelList(ids) {
    if (!ids || ids.length === 0) return el("span", { class: "none", text: "none" });
    return el("span", { class: "labels" },
      ids.map((id) => el("span", { class: "label", text: className(id) })));
  }
  function probability(mistake, rank) {
    const probs = mistake.top5_probs;
    return probs && probs[rank] != null ? ` ${(100 * probs[rank]).toFixed(1)}%` : "";
  }
  const forms = new Map();  // record index -> its verdict form, once built
  const openers = new Map();  // record index -> opens its verdict disclosure, building the form
  function verdictForm(mistake, index, node) {
    const key = keyOf(mistake);
    const saved = verdicts[key] || {};
    const radios = data.verdicts.map((verdict) => {
      const input = el("input", { type: "radio", name: `verdict-${index}`, value: verdict });
      input.checked = saved.verdict === verdict;
      return el("label", {}, [input, ` ${verdict}`]);
    });
    const category = el("select", { "aria-label": "category" });
    fillSelect(category, data.categories.map((c) => [c, c]));
    category.value = saved.category || ANY;
    category.options[0].textContent = "category…";
    const severity = el("select", { "aria-label": "severity" });
    fillSelect(severity, data.severities.map((s) => [s, s]));
    severity.value = saved.severity || ANY;
    severity.options[0].textContent = "severity…";
    const note = el("textarea", { placeholder: "note (optional)", "aria-label": "note" });
    note.value = saved.note || "";
    const clear = el("button", { type: "button", class: "secondary", text: "Clear" });
    const form = el("fieldset", { class: "verdict" }, [
      el("legend", { text: `Your verdict on the prediction ${className(mistake.prediction)}` }),
      el("div", { class: "verdict-row" }, [...radios, clear]),
      el("div", { class: "verdict-row" }, [category, severity]),
      el("div", { class: "verdict-row" }, [note]),
    ]);
    function record() {
      const chosen = form.querySelector("input[type=radio]:checked");
      if (chosen) {
        const decision = { file_name: mistake.file_name, class_id: mistake.prediction,
          verdict: chosen.value };
        if (category.value) decision.category = category.value;
        if (severity.value) decision.severity = severity.value;
        if (note.value.trim()) decision.note = note.value.trim();
        verdicts[key] = decision;
      } else {
        delete verdicts[key];
      }
      node.classList.toggle("decided", Boolean(chosen));
      saveVerdicts();
    }
    forms.set(index, form);
    form.addEventListener("change", record);
    note.addEventListener("input", record);
    clear.addEventListener("click", () => {
      for (const radio of form.querySelectorAll("input[type=radio]")) radio.checked = false;
      category.value = severity.value = note.value = "";
      record();
    });
    return form;
  }
  // Predictions outside the label set get the form at once (the labels cannot judge them);
  // others behind a disclosure that builds it when first opened (fewer elements: the page opens
  // and filters faster).
  function verdictSection(mistake, index, node) {
    const decided = Boolean((verdicts[keyOf(mistake)] || {}).verdict);
    node.classList.toggle("decided", decided);
    if (mistake.outside_label_set) return verdictForm(mistake, index, node);
    const summary = el("summary", { text: "Disagree with the labels? Record a verdict" });
    const details = el("details", {}, [summary]);
    const build = () => {
      if (details.childElementCount === 1) details.append(verdictForm(mistake, index, node));
    };
    summary.addEventListener("click", build);  // before the click opens it, keys included
    openers.set(index, () => {
      build();
      details.open = true;
    });
    if (decided) {
      build();
      details.open = true;
    }
    return details;
  }
  // A queue record: each compared model's top-1 on the image, the queued class in bold.
  function modelPredictions(m) {
    return el("ul", { class: "models" }, m.model_predictions.map((entry) => {
      const predicted = entry.class_id == null ? "no prediction" : className(entry.class_id);
      const prob = entry.probability == null ? "" : ` ${(100 * entry.probability).toFixed(1)}%`;
      return el("li", { class: entry.class_id === m.prediction ? "same" : "" },
        [`${entry.model}: ${predicted}`, el("span", { class: "prob", text: prob })]);
    }));
  }
  function card(index) {
    if (cards.has(index)) return cards.get(index);
    const m = mistakes[index];
    const thumb = el("div", { class: "thumb" });
    if (m.thumbnail) {
      const enlarge = el("button", { type: "button", class: "enlarge",
        title: "Click to enlarge", "aria-label": `enlarge ${m.file_name}` }, [
        el("img", { src: m.thumbnail, alt: m.file_name, loading: "lazy", decoding: "async" })]);
      enlarge.addEventListener("click", () => showEnlarged(m));
      thumb.append(enlarge);
    } else if (m.thumbnail_problem) {
      thumb.append(el("div", { class: "noimage problem",
        text: `no thumbnail: ${m.thumbnail_problem}` }));
    } else {
      thumb.append(el("div", { class: "noimage",
        text: `no image (${data.kind.command} --images SOURCE)` }));
    }
    const badges = el("div", { class: "badges" }, [
      el("span", { class: `badge source-${m.source}`, text: m.source }),
    ]);
    if (m.rank != null) badges.prepend(el("span", { class: "badge rank", text: `queue #${m.rank}` }));
    if (m.outside_label_set && m.source !== "outside-label-set") {
      badges.append(el("span", { class: "badge source-outside-label-set",
        text: "outside the label set" }));
    }
    if (m.category) badges.append(el("span", { class: "badge", text: m.category }));
    if (m.auto_category) {
      badges.append(el("span", { class: `badge auto auto-${m.auto_family}`,
        text: `auto: ${m.auto_category}` }));
    }
    if (m.severity) {
      badges.append(el("span", { class: `badge severity-${m.severity}`, text: m.severity }));
    }
    if (m.in_imagenet_m) badges.append(el("span", { class: "badge imagenet-m", text: "ImageNet-M" }));
    const top5 = el("ol", { class: "top5" }, (m.top5 || []).map((id, rank) =>
      el("li", {}, [className(id), el("span", { class: "prob", text: probability(m, rank) })])));
    // The automatic category and the facts that decided it, beside (never instead of) the
    // experts' category above.
    const automatic = m.auto_category ? [["Automatic", el("span", {}, [
      `${m.auto_category} (${m.auto_family}): `,
      el("span", { class: "evidence", text: m.auto_evidence }),
    ])]] : [];
    const rows = [
      ["Original label", el("span", { text: className(m.original_label) })],
      ["Prediction", el("span", { class: "prediction",
        text: className(m.prediction) + (m.confidence != null ?
          ` ${(100 * m.confidence).toFixed(1)}%` : "") })],
      ...(m.top5 ? [["Top-5", top5]] : []),
      ...(m.model_predictions ? [["Every model", modelPredictions(m)]] : []),
      ...automatic,
      ["Correct", labelList(m.correct)],
      ["Unclear", labelList(m.unclear)],
      ["Wrong", labelList(m.wrong)],
    ];
    const list = el("dl", {}, rows.flatMap(([term, value]) => [el("dt", { text: term }),
      el("dd", {}, [value])]));
    const node = el("article", { class: "mistake", "data-file-name": m.file_name });
    node.append(thumb, el("div", { class: "details" }, [
      el("h2", { class: "file", text: m.file_name }), badges, list]));
    node.lastChild.append(verdictSection(m, index, node));
    cards.set(index, node);
    return node;
  }

  // A click on a picture shows its larger copy over the page; a click or Escape closes it.
  const enlarged = byId("enlarged");
  function showEnlarged(m) {
    byId("enlarged-image").src = m.enlarged || m.thumbnail;
    byId("enlarged-image").alt = m.file_name;
    byId("enlarged-caption").textContent = m.file_name;
    enlarged.showModal();
  }
  enlarged.addEventListener("click", () => enlarged.close());

  // Sort: the page's own order (the queue's), confidence (highest first, unknown last), the
  // predicted class, the automatic category (in rule order: minor first, model failures last),
  // the file; ties keep the page's order.
  byId("sort").options[0].textContent = data.kind.order;
  const autoRank = (m) => {
    const rank = AUTO_CATEGORIES.indexOf(m.auto_category);
    return rank < 0 ? AUTO_CATEGORIES.length : rank;
  };
  const SORTS = {
    page: () => 0,
    confidence: (a, b) => (b.confidence ?? -1) - (a.confidence ?? -1),
    class: (a, b) => a.prediction - b.prediction,
    auto: (a, b) => autoRank(a) - autoRank(b),
    file: (a, b) => a.file_name.localeCompare(b.file_name),
  };

  let matching = [];
  let shown = 0;
  let current = -1;  // the position in `matching` of the card the keys act on
  function render() {
    byId("mistakes").replaceChildren(...matching.slice(0, shown).map(card));
    const limited = shown < matching.length ? ` (first ${shown} displayed)` : "";
    byId("shown-count").textContent =
      `${matching.length} of ${mistakes.length} ${data.kind.noun} shown${limited}`;
    byId("show-more").hidden = shown >= matching.length;
  }
  function applyFilters() {
    if (current >= 0) card(matching[current]).classList.remove("current");
    current = -1;
    matching = [];
    mistakes.forEach((mistake, index) => { if (matches(mistake)) matching.push(index); });
    const order = SORTS[byId("sort").value];
    matching.sort((a, b) => order(mistakes[a], mistakes[b]) || a - b);
    shown = Math.min(PAGE_SIZE, matching.length);
    render();
  }
  // The header is sticky: the page scrolls as if it began below it, so that the card the keys
  // move to is never scrolled under it (its height changes as the toolbar wraps).
  const header = document.querySelector("header");
  new ResizeObserver(() => {
    document.documentElement.style.scrollPaddingTop = `${header.offsetHeight + 8}px`;
  }).observe(header);
  // Keyboard review: j/k or the arrows move between the shown cards; 1/2/3 record correct,
  // unclear, wrong on the current card and move on. Keys typed into a field stay the field's.
  function moveTo(position) {
    if (matching.length === 0) return;
    if (current >= 0) card(matching[current]).classList.remove("current");
    current = Math.max(0, Math.min(position, matching.length - 1));
    if (current >= shown) {
      shown = Math.min(current + PAGE_SIZE, matching.length);
      render();
    }
    const node = card(matching[current]);
    node.classList.add("current");
    node.scrollIntoView({ block: "nearest" });
  }
  function decide(verdict) {
    if (current < 0) moveTo(0);
    const index = matching[current];
    if (index === undefined) return;
    if (!forms.has(index)) openers.get(index)();
    const form = forms.get(index);
    form.querySelector(`input[type=radio][value=${verdict}]`).checked = true;
    form.dispatchEvent(new Event("change"));
    moveTo(current + 1);
  }
  const NEXT = ["j", "ArrowDown", "ArrowRight"], PREVIOUS = ["k", "ArrowUp", "ArrowLeft"];
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest && event.target.closest("input, textarea, select");
    if (typing || enlarged.open || event.altKey || event.ctrlKey || event.metaKey) return;
    const verdict = data.verdicts[Number(event.key) - 1];
    if (NEXT.includes(event.key)) moveTo(current + 1);
    else if (PREVIOUS.includes(event.key)) moveTo(current - 1);
    else if (verdict && /^[1-9]$/.test(event.key)) decide(verdict);
    else return;
    event.preventDefault();
  });
  for (const id of ["sort", "filter-source", "filter-label-set", "filter-category",
    "filter-auto-category", "filter-severity", "filter-imagenet-m", "filter-class",
    "filter-verdict"]) {
    byId(id).addEventListener("change", (event) => {
      applyFilters();
      // A chosen option hands the keys back to the cards (a focused select would keep them).
      if (event.target.tagName === "SELECT") event.target.blur();
    });
  }
  byId("show-more").addEventListener("click", () => {
    shown = Math.min(shown + PAGE_SIZE, matching.length);
    render();
  });

  // Reviewer and the patch download.
  const reviewer = byId("reviewer");
  reviewer.value = (storage && storage.getItem(REVIEWER_KEY)) || "";
  reviewer.addEventListener("input", () => {
    if (storage) storage.setItem(REVIEWER_KEY, reviewer.value);
  });
  byId("download-patch").addEventListener("click", () => {
    const decisions = pageDecisions();
    if (decisions.length === 0) {
      updateVerdictCount("No verdict recorded yet: nothing to download");
      return;
    }
    const now = new Date().toISOString();
    const created = now.replace(/\.\d{3}Z$/, "Z");
    const patch = {
      format: data.patch_format,
      format_version: data.patch_format_version,
      base: data.base,
      created,
      reviewer: reviewer.value.trim(),
      decisions,
    };
    const blob = new Blob([JSON.stringify(patch, null, 2) + "\n"], { type: "application/json" });
    const link = el("a", {
      href: URL.createObjectURL(blob),
      // To the millisecond: a second export within the same second is another file, not the
      // first one overwritten.
      download: `label-patch-${data.base.slice(0, 8)}-${now.replace(/[-:.]/g, "")}.json`,
    });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    updateVerdictCount(`${decisions.length} verdict(s) saved to ${link.download}`);
  });

  updateVerdictCount();
  updateProgress();
  fillVerdictFilter();
  applyFilters();
  performance.mark("review-ready");  // the page is usable: what the benchmark times
})();
