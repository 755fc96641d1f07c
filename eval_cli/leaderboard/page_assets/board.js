// The leaderboard page's script (inlined into leaderboard.html by eval_cli/leaderboard/html.py).
// Every text from the data goes into the page through textContent or an attribute (el, byId:
// analysis/review_assets/dom.js, inlined before this), never as HTML; SVG elements are made in the
// namespace of the page's own <svg> elements.
//
// The table shows the first PAGE_ROWS rows of the current order and filters ("Show more" adds
// rows): laying out 1,300 rows of 27 cells takes a browser about a second, 100 rows a few
// milliseconds. The plots always draw every result that passes the filters (the bars of mistakes
// by automatic category: the first max_bars of them by top-1, from the table's own cells). A
// selected row that is not among the rows shown is pinned above them.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("board-data").textContent);
  const columns = data.columns;
  const rows = data.rows;
  const ANY = "";
  const PAGE_ROWS = 100;
  const column = Object.fromEntries(columns.map((c, index) => [c.name, index]));
  const MODEL = column.model, REVISION = column.revision;
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const number = (value) => value.toLocaleString("en");

  // A link made by html.py (relative to the page, percent-encoded, or on the Hub); anything
  // else (a page edited by hand) is shown as text.
  function safeHref(link) {
    try {
      const url = new URL(link, window.location.href);
      return ["https:", "http:", "file:"].includes(url.protocol) ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------
  // State: the order of the rows, which pass the filters, how many are shown, which is selected

  let order = rows.map((_, row) => row);
  let passes = rows.map(() => true);
  let limit = PAGE_ROWS;
  let selected = null;
  const rowElements = new Array(rows.length);  // made when first shown
  const points = rows.map(() => []);  // each row's circles, in both plots
  const pointValues = new WeakMap();  // circle -> [x, y] in data units
  const selectedLabels = new WeakMap();  // svg -> its label of the selected point

  // ---------------------------------------------------------------------------------------
  // The table

  const table = byId("board");
  const headRow = table.tHead.rows[0];
  const pinned = byId("pinned");
  const tbody = byId("rows");

  function cell(row, index) {
    const spec = columns[index];
    const text = row.cells[index];
    const td = document.createElement("td");
    const results = spec.name === data.link_column && row.results ? safeHref(row.results) : null;
    if (results) {
      td.append(el("a", { href: results, text: text || "results" }));
      const predictions = row.predictions ? safeHref(row.predictions) : null;
      if (predictions) td.append(" \u00b7 ", el("a", { href: predictions, text: "predictions" }));
    } else {
      td.textContent = text;
    }
    td.className = index === MODEL ? "model" : spec.numeric ? "num" : "text";
    return td;
  }

  function rowElement(index) {
    if (!rowElements[index]) {
      const row = rows[index];
      const tr = el("tr", { class: row.status, "data-row": String(index) });
      for (let c = 0; c < columns.length; c += 1) tr.append(cell(row, c));
      rowElements[index] = tr;
    }
    return rowElements[index];
  }

  function buildHead() {
    columns.forEach((spec, index) => {
      const button = el("button", { type: "button", text: spec.header });
      button.addEventListener("click", () => sortBy(index));
      headRow.append(el("th", { scope: "col", class: spec.numeric ? "num" : "" }, [button]));
    });
    table.addEventListener("click", (event) => {
      if (event.target.closest("a, thead")) return;  // a link opens, a header sorts
      const tr = event.target.closest("tbody tr");
      if (tr) select(Number(tr.dataset.row), false);
    });
  }

  // The rows that pass the filters in the current order; the first `limit` of them shown.
  function render() {
    const matching = order.filter((row) => passes[row]);
    const shown = matching.slice(0, limit);
    const fragment = document.createDocumentFragment();
    for (const row of shown) fragment.append(rowElement(row));
    tbody.replaceChildren(fragment);
    const onPage = selected !== null && shown.includes(selected);
    pinned.replaceChildren(...(selected !== null && !onPage ? [rowElement(selected)] : []));
    pinned.hidden = !pinned.firstChild;
    const more = matching.length - shown.length;
    byId("show-more").hidden = more === 0;
    byId("show-more").textContent = `Show ${number(Math.min(PAGE_ROWS, more))} more`;
    byId("show-all").hidden = more <= PAGE_ROWS;
    byId("show-all").textContent = `Show all ${number(matching.length)}`;
    byId("rows-shown").textContent = matching.length
      ? `Rows 1\u2013${number(shown.length)} of ${number(matching.length)}`
      : "No row matches the filters";
  }

  // Sorting: numbers as numbers (an empty cell last either way), text by a natural collation;
  // numbers start from the highest (a leaderboard), text and the rank from the first.
  let sortState = { index: column.rank, descending: false };
  const numericKeys = {};
  function keysOf(index) {
    if (!(index in numericKeys)) {
      numericKeys[index] = rows.map((row) => {
        const value = Number.parseFloat(row.cells[index]);
        return Number.isFinite(value) ? value : null;
      });
    }
    return numericKeys[index];
  }
  function sortBy(index) {
    const spec = columns[index];
    const firstDescending = spec.numeric && index !== column.rank;
    const descending = sortState.index === index ? !sortState.descending : firstDescending;
    sortState = { index, descending };
    const sign = descending ? -1 : 1;
    order = rows.map((_, row) => row);
    if (spec.numeric) {
      const keys = keysOf(index);
      order.sort((a, b) => {
        if (keys[a] === null || keys[b] === null) {
          return (keys[a] === null) - (keys[b] === null) || a - b;
        }
        return sign * (keys[a] - keys[b]) || a - b;
      });
    } else {
      order.sort((a, b) => sign * collator.compare(rows[a].cells[index], rows[b].cells[index]) || a - b);
    }
    Array.from(headRow.cells).forEach((th, c) => {
      if (c === index) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
    limit = PAGE_ROWS;
    render();
  }

  // ---------------------------------------------------------------------------------------
  // Filters and search

  const search = byId("search");
  const familyFilter = byId("filter-family");
  const pretrainingFilter = byId("filter-pretraining");
  const statusFilter = byId("filter-status");

  function fillChoices(select, index) {
    const counts = new Map();
    for (const row of rows) counts.set(row.cells[index], (counts.get(row.cells[index]) || 0) + 1);
    select.append(el("option", { value: ANY, text: `all (${counts.size})` }));
    for (const value of Array.from(counts.keys()).sort(collator.compare)) {
      select.append(el("option", { value, text: `${value} (${counts.get(value)})` }));
    }
  }

  const searchable = rows.map((row) => `${row.cells[MODEL]} ${row.cells[REVISION]}`.toLowerCase());
  function applyFilters() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const family = familyFilter.value, pretraining = pretrainingFilter.value;
    const status = statusFilter.value;
    let results = 0, resultsShown = 0, references = 0;
    passes = rows.map((row, index) => {
      const visible =
        (family === ANY || row.cells[column.family] === family) &&
        (pretraining === ANY || row.cells[column.pretraining] === pretraining) &&
        (status === ANY || row.status === status) &&
        words.every((word) => searchable[index].includes(word));
      for (const point of points[index]) point.classList.toggle("hidden", !visible);
      if (row.status === "reference") references += visible;
      else {
        results += 1;
        resultsShown += visible;
      }
      return visible;
    });
    byId("shown-count").textContent =
      `${number(resultsShown)} of ${number(results)} results match` +
      (references ? ` (+ ${references} paper reference row${references > 1 ? "s" : ""})` : "");
    limit = PAGE_ROWS;
    render();
    drawBars();
  }

  // ---------------------------------------------------------------------------------------
  // The plots

  // An SVG element in the namespace of `svg`, with attributes and text.
  function svgNode(svg, tag, attributes, text) {
    const made = document.createElementNS(svg.namespaceURI, tag);
    for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
    if (text !== undefined) made.textContent = text;
    return made;
  }

  const VIEW = { width: 640, height: 470, left: 58, right: 14, top: 10, bottom: 62 };
  const CROWDED = 300;  // points: more are drawn smaller
  const tooltip = byId("tooltip");

  function drawPlot(plot) {
    const figure = byId(plot.id);
    const svg = figure.querySelector("svg");
    const node = (tag, attributes, text) => svgNode(svg, tag, attributes, text);
    figure.querySelector(".plot-title").textContent = plot.title;
    svg.setAttribute("aria-label", plot.title);
    const width = VIEW.width - VIEW.left - VIEW.right;
    const height = VIEW.height - VIEW.top - VIEW.bottom;
    const [x0, x1] = plot.x_view, [y0, y1] = plot.y_view;
    const sx = (x) => VIEW.left + ((x - x0) / (x1 - x0)) * width;
    const sy = (y) => VIEW.top + height - ((y - y0) / (y1 - y0)) * height;
    const clipId = `clip-${plot.id}`;
    const clip = node("clipPath", { id: clipId });
    clip.append(node("rect", { x: VIEW.left, y: VIEW.top, width, height }));
    svg.append(clip);
    for (const tick of plot.x_ticks) {
      const x = sx(tick).toFixed(1);
      svg.append(node("line", { class: "grid", x1: x, x2: x, y1: VIEW.top, y2: VIEW.top + height }));
      svg.append(node("text", {
        class: "tick", x, y: VIEW.top + height + 16, "text-anchor": "middle",
      }, tickText(tick)));
    }
    for (const tick of plot.y_ticks) {
      const y = sy(tick).toFixed(1);
      svg.append(node("line", { class: "grid", x1: VIEW.left, x2: VIEW.left + width, y1: y, y2: y }));
      svg.append(node("text", {
        class: "tick", x: VIEW.left - 6, y: Number(y) + 4, "text-anchor": "end",
      }, tickText(tick)));
    }
    svg.append(node("rect", { class: "frame", x: VIEW.left, y: VIEW.top, width, height }));
    plot.x_label.forEach((line, index) => {
      svg.append(node("text", {
        class: "axis-label", x: VIEW.left + width / 2, y: VIEW.top + height + 36 + 15 * index,
        "text-anchor": "middle",
      }, line));
    });
    const yMiddle = VIEW.top + height / 2;
    svg.append(node("text", {
      class: "axis-label", x: 14, y: yMiddle, "text-anchor": "middle",
      transform: `rotate(-90 14 ${yMiddle})`,
    }, plot.y_label));
    const lines = node("g", { "clip-path": `url(#${clipId})` });
    if (plot.diagonal) {
      lines.append(node("line", { class: "diagonal", x1: sx(x0), y1: sy(x0), x2: sx(x1), y2: sy(x1) }));
    }
    plot.references.forEach((reference, index) => {
      const y = sy(reference.level).toFixed(1);
      lines.append(node("line", {
        class: `reference ref-${index % 3}`, x1: VIEW.left, x2: VIEW.left + width, y1: y, y2: y,
      }));
    });
    svg.append(lines);
    const group = node("g", { class: "points", "clip-path": `url(#${clipId})` });
    const radius = plot.points.length > CROWDED ? 3 : 4.5;
    for (const [row, x, y] of plot.points) {
      const circle = node("circle", {
        class: `point ${rows[row].status}`, cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: radius,
        "data-row": row,
      });
      pointValues.set(circle, [x, y]);
      points[row].push(circle);
      group.append(circle);
    }
    svg.append(group);
    const label = node("text", { class: "selected-label", visibility: "hidden" });
    svg.append(label);
    selectedLabels.set(svg, label);
    group.addEventListener("mouseover", (event) => {
      const circle = event.target.closest("circle");
      if (circle) showTooltip(circle, plot, event);
    });
    group.addEventListener("mousemove", placeTooltip);
    group.addEventListener("mouseout", () => { tooltip.hidden = true; });
    group.addEventListener("click", (event) => {
      const circle = event.target.closest("circle");
      if (circle) select(Number(circle.dataset.row), true);
    });
    fillLegend(figure.querySelector(".legend"), plot);
  }

  function tickText(value) {
    return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(4)));
  }

  function fillLegend(list, plot) {
    const item = (swatchClass, text) =>
      el("li", {}, [el("span", { class: `swatch ${swatchClass}` }), el("span", { text })]);
    list.append(item("dot filled", "official result"));
    list.append(item("dot", "flagged: partial, incomplete, unverified or patched labels"));
    if (plot.diagonal) list.append(item("solid", "y = x"));
    plot.references.forEach((reference, index) => {
      list.append(item(`ref-${index % 3}`, reference.legend));
    });
    if (!plot.points.length) list.append(el("li", { text: "no result to draw (see the notes)" }));
  }

  function showTooltip(circle, plot, event) {
    const row = rows[Number(circle.dataset.row)];
    const [x, y] = pointValues.get(circle);
    const shown = plot.diagonal ? `multi-label ${y.toFixed(2)}%` : `ImageNet-M ${y} correct`;
    tooltip.replaceChildren(
      el("div", { text: row.cells[MODEL] }),
      el("div", {
        class: "detail",
        text: `top-1 ${x.toFixed(2)}%, ${shown}` +
          (row.status === "flagged" ? ` (flagged: ${row.cells[column.flags]})` : ""),
      }),
    );
    tooltip.hidden = false;
    placeTooltip(event);
  }

  function placeTooltip(event) {
    if (tooltip.hidden) return;
    const box = tooltip.getBoundingClientRect();
    const left = Math.min(event.clientX + 14, window.innerWidth - box.width - 4);
    const below = event.clientY + 14 + box.height <= window.innerHeight;
    tooltip.style.left = `${Math.max(4, left)}px`;
    tooltip.style.top = `${Math.max(4, below ? event.clientY + 14 : event.clientY - box.height - 10)}px`;
  }

  // The mistakes of each result stacked by automatic category (category_bars.categories_figure's bars):
  // the counts are the table's own cells, one column per category ("n/a": its image rule did
  // not run, drawn as 0 and starred).
  const bars = data.category_plot;
  const BARS = { width: 960, left: 340, right: 24, top: 8, bottom: 52, row: 22 };
  const barColumns = bars.categories.map((category) => column[category.column]);
  const notAvailable = (text) => text !== "" && !Number.isFinite(Number.parseFloat(text));

  function fillCategoryLegend() {
    const figure = byId(bars.id);
    figure.querySelector(".plot-title").textContent = bars.title;
    for (const category of bars.categories) {
      const swatch = el("span", { class: "swatch box" });
      swatch.style.background = category.color;  // CSSOM, which the page's policy allows
      figure.querySelector(".legend").append(
        el("li", {}, [swatch, el("span", { text: `${category.name} (${category.family})` })]));
    }
  }

  function drawBars() {
    const figure = byId(bars.id);
    const svg = figure.querySelector("svg");
    const node = (tag, attributes, text) => svgNode(svg, tag, attributes, text);
    const passing = bars.rows.filter((row) => passes[row]);
    const chosen = passing.slice(0, bars.max_bars);
    const counts = chosen.map((row) => barColumns.map((index) =>
      Number.parseFloat(rows[row].cells[index]) || 0));
    const totals = counts.map((values) => values.reduce((sum, value) => sum + value, 0));
    const largest = Math.max(1, ...totals);
    const height = BARS.top + Math.max(chosen.length, 1) * BARS.row + BARS.bottom;
    const width = BARS.width - BARS.left - BARS.right;
    const sx = (value) => BARS.left + (value / largest) * width;
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${BARS.width} ${height}`);
    svg.setAttribute("aria-label", bars.title);
    const bottom = height - BARS.bottom;
    const step = niceStep(largest / 6);
    for (let tick = 0; tick <= largest; tick += step) {
      const x = sx(tick).toFixed(1);
      svg.append(node("line", { class: "grid", x1: x, x2: x, y1: BARS.top, y2: bottom }));
      svg.append(node("text", { class: "tick", x, y: bottom + 16, "text-anchor": "middle" },
        number(tick)));
    }
    svg.append(node("text", {
      class: "axis-label", x: BARS.left + width / 2, y: bottom + 40, "text-anchor": "middle",
    }, bars.x_label));
    let starred = false;
    chosen.forEach((row, position) => {
      const cells = rows[row].cells;
      const star = barColumns.some((index) => notAvailable(cells[index]));
      starred = starred || star;
      const y = BARS.top + position * BARS.row;
      const group = node("g", { class: row === selected ? "selected" : "", "data-row": row });
      const name = cells[MODEL].length > 44 ? `${cells[MODEL].slice(0, 43)}\u2026` : cells[MODEL];
      const top1 = cells[column.top1_annotated] ? ` (${cells[column.top1_annotated]}%)` : "";
      group.append(node("text", {
        class: "name", x: BARS.left - 8, y: y + BARS.row * 0.68, "text-anchor": "end",
      }, `${name}${top1}${star ? " *" : ""}`));
      let left = 0;
      counts[position].forEach((value, index) => {
        if (value <= 0) return;
        const rect = node("rect", {
          class: `bar ${rows[row].status}`, x: sx(left).toFixed(1), y: y + 3,
          width: (sx(left + value) - sx(left)).toFixed(1), height: BARS.row - 6,
          fill: bars.categories[index].color,
        });
        const what = `${number(value)} ${bars.categories[index].name}`;
        rect.append(node("title", {}, `${cells[MODEL]}: ${what}`));
        group.append(rect);
        left += value;
      });
      group.addEventListener("click", () => select(row, true));
      svg.append(group);
    });
    const notes = [];
    if (starred) notes.push(bars.not_judged_note);
    if (passing.length > chosen.length) {
      notes.push(`The ${chosen.length} results with the highest top-1 of the ` +
        `${number(passing.length)} that match; every result is in the table.`);
    }
    if (!chosen.length) notes.push("No result with automatic mistake categories to draw.");
    figure.querySelector(".bar-notes").textContent = notes.join(" ");
  }

  // A round step (1, 2 or 5 times a power of ten) of at least `value`.
  function niceStep(value) {
    const power = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
    return [1, 2, 5, 10].map((factor) => factor * power).find((step) => step >= value);
  }

  // ---------------------------------------------------------------------------------------
  // Selection: a row and its points, from either side

  function select(row, fromPlot) {
    if (selected !== null) {
      rowElement(selected).classList.remove("selected");
      rowElement(selected).removeAttribute("aria-selected");
      for (const point of points[selected]) point.classList.remove("selected");
    }
    selected = row;
    const tr = rowElement(row);
    tr.classList.add("selected");
    tr.setAttribute("aria-selected", "true");
    for (const svg of document.querySelectorAll("svg.plot")) {
      selectedLabels.get(svg).setAttribute("visibility", "hidden");
    }
    for (const point of points[row]) {
      point.classList.add("selected");
      point.parentNode.append(point);  // drawn on top
      labelPoint(point, rows[row].cells[MODEL]);
    }
    render();
    drawBars();
    if (fromPlot) tr.scrollIntoView({ block: "nearest" });
  }

  function labelPoint(point, name) {
    const label = selectedLabels.get(point.ownerSVGElement);
    const x = Number(point.getAttribute("cx")), y = Number(point.getAttribute("cy"));
    label.textContent = name.length > 60 ? `${name.slice(0, 59)}\u2026` : name;
    const rightSide = x < VIEW.left + (VIEW.width - VIEW.left - VIEW.right) / 2;
    label.setAttribute("x", rightSide ? x + 8 : x - 8);
    label.setAttribute("y", Math.max(VIEW.top + 12, y - 8));
    label.setAttribute("text-anchor", rightSide ? "start" : "end");
    label.setAttribute("visibility", "visible");
  }

  // ---------------------------------------------------------------------------------------

  buildHead();
  fillChoices(familyFilter, column.family);
  fillChoices(pretrainingFilter, column.pretraining);
  data.plots.forEach(drawPlot);
  fillCategoryLegend();
  for (const note of data.notes) byId("notes").append(el("li", { text: note }));
  byId("notes-box").hidden = !data.notes.length;
  for (const control of [familyFilter, pretrainingFilter, statusFilter]) {
    control.addEventListener("change", applyFilters);
  }
  search.addEventListener("input", applyFilters);
  byId("show-more").addEventListener("click", () => { limit += PAGE_ROWS; render(); });
  byId("show-all").addEventListener("click", () => { limit = rows.length; render(); });
  headRow.cells[column.rank].setAttribute("aria-sort", "ascending");
  applyFilters();
  document.body.getBoundingClientRect();  // laid out: the page is ready to use
  performance.mark("leaderboard-ready");
  document.documentElement.dataset.ready = "true";
})();
