/* radlake dashboards: filter each chart's rows (data/<chart>.js) and draw them with the vendored ECharts.
 * Every value from the data is drawn on a canvas or set as textContent: nothing from a row is parsed as HTML
 * (tooltips use ECharts' rich-text mode, which draws on the canvas too). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("radlake-page").textContent);
  var L = cfg.labels;
  var DATA = window.RADLAKE_DATA || {};
  var instSel = document.getElementById("f-inst");
  var fromIn = document.getElementById("f-from");
  var toIn = document.getElementById("f-to");
  var drawn = {};

  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function label(k) { return has(L, k) ? L[k] : String(k); }
  function rowsOf(id) { var d = DATA[id]; return d && Array.isArray(d.rows) ? d.rows : []; }
  function num(v) { var n = Number(v); return isFinite(n) ? n : 0; }
  function key(v) { return v === null || v === undefined ? "—" : String(v); }
  function uniq(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (!has(seen, v)) { seen[v] = true; out.push(v); } });
    return out.sort();
  }

  // What the page's filters apply to: its charts, and on the console its problems (tiles and tables) and the
  // top raw names. Each says which column the institution and the date range filter.
  var CON = cfg.console || null;
  var sources = cfg.charts.map(function (c) { return { id: c.id, inst: c.inst, date: c.date, date_grain: c.date_grain }; });
  if (CON) {
    CON.problems.forEach(function (p) {
      sources.push({ id: "console_" + p.id, inst: "institution", date: p.date, date_grain: p.date_grain });
      if (p.devices) sources.push({ id: "console_" + p.id + "_devices", inst: "institution", date: p.date, date_grain: p.date_grain });
    });
    sources.push({ id: "console_top_raw_names", inst: "institution", date: null });
  }

  // The filters' choices: every institution and the date span of the data (never the day of the build): the
  // days of daily rows, or the weeks and months of coarser rows when the page has no daily ones.
  var insts = [], span = { day: [null, null], month: [null, null] };
  sources.forEach(function (c) {
    rowsOf(c.id).forEach(function (r) {
      if (c.inst && r[c.inst] !== null && r[c.inst] !== undefined) insts.push(String(r[c.inst]));
      if (c.date && r[c.date]) {
        var d = String(r[c.date]).slice(0, 10), grain = c.date_grain === "day" ? "day" : "month";
        var end = periodEnd(d, c.date_grain), s = span[grain];
        if (s[0] === null || d < s[0]) s[0] = d;
        if (s[1] === null || end > s[1]) s[1] = end;
      }
    });
  });
  var minD = span.day[0] || span.month[0], maxD = span.day[1] || span.month[1];
  uniq(insts).forEach(function (name) { instSel.appendChild(new Option(name, name)); });
  fromIn.min = toIn.min = minD || "";
  fromIn.max = toIn.max = maxD || "";

  // The last day a row of this grain covers: the day itself, the week's Sunday, the month's last day.
  function periodEnd(d, grain) {
    if (grain === "week") return new Date(Date.parse(d + "T00:00:00Z") + 6 * 86400000).toISOString().slice(0, 10);
    if (grain !== "month") return d;
    var y = Number(d.slice(0, 4)), m = Number(d.slice(5, 7));
    var last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return d.slice(0, 8) + String(last);
  }

  // The filters live in the page's address (#inst=…&from=…&to=…): a view can be bookmarked and shared, and the
  // menu's links carry it to the other pages.
  function readHash() {
    var out = {};
    String(location.hash || "").replace(/^#/, "").split("&").forEach(function (part) {
      var i = part.indexOf("=");
      if (i > 0) out[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1));
    });
    return out;
  }
  function writeHash() {
    var parts = [];
    if (instSel.value) parts.push("inst=" + encodeURIComponent(instSel.value));
    if (fromIn.value && fromIn.value !== minD) parts.push("from=" + encodeURIComponent(fromIn.value));
    if (toIn.value && toIn.value !== maxD) parts.push("to=" + encodeURIComponent(toIn.value));
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (hash !== location.hash) history.replaceState(null, "", location.pathname + location.search + hash);
    Array.prototype.forEach.call(document.querySelectorAll("header a"), function (a) {
      a.setAttribute("href", a.getAttribute("href").split("#")[0] + hash);
    });
  }
  function resetFilters() {
    instSel.value = "";
    fromIn.value = minD || "";
    toIn.value = maxD || "";
  }
  function applyHash() {
    var h = readHash();
    resetFilters();
    if (h.inst && insts.indexOf(h.inst) >= 0) instSel.value = h.inst;
    if (h.from) fromIn.value = h.from;
    if (h.to) toIn.value = h.to;
  }

  // A date bound at the data's own edge filters nothing (rows without a date, e.g. a study without StudyDate,
  // stay in until the range is narrowed).
  function filters() {
    return {
      inst: instSel.value,
      from: fromIn.value && fromIn.value !== minD ? fromIn.value : "",
      to: toIn.value && toIn.value !== maxD ? toIn.value : ""
    };
  }

  function keep(c, r, f) {
    if (c.inst && f.inst && key(r[c.inst]) !== f.inst) return false;
    if (c.date && (f.from || f.to)) {
      var v = r[c.date];
      if (!v) return false;
      var start = String(v).slice(0, 10);
      var end = periodEnd(start, c.date_grain);
      if (f.from && end < f.from) return false;
      if (f.to && start > f.to) return false;
    }
    return true;
  }

  function filtered(c, f) { return rowsOf(c.id).filter(function (r) { return keep(c, r, f); }); }

  // Sums of the measures (and ratio parts) per group key.
  function sums(rows, keyCols, cols) {
    var out = {};
    rows.forEach(function (r) {
      var k = keyCols.map(function (col) { return key(r[col]); }).join("\u0001");
      if (!has(out, k)) {
        out[k] = { keys: keyCols.map(function (col) { return key(r[col]); }), s: {} };
        cols.forEach(function (m) { out[k].s[m] = 0; });
      }
      cols.forEach(function (m) { out[k].s[m] += num(r[m]); });
    });
    return out;
  }

  function valueCols(c) { return c.ratio ? c.ratio.slice() : c.measures.slice(); }
  function value(c, s, m) {
    if (c.ratio) return s[c.ratio[1]] ? Math.round((1000 * s[c.ratio[0]]) / s[c.ratio[1]]) / 10 : null;
    return s[m];
  }

  function percentile(hist, p) {
    var total = 0;
    hist.forEach(function (h) { total += h[1]; });
    if (!total) return null;
    hist.sort(function (a, b) { return a[0] - b[0]; });
    var need = p * total, run = 0;
    for (var i = 0; i < hist.length; i++) { run += hist[i][1]; if (run >= need) return hist[i][0]; }
    return hist[hist.length - 1][0];
  }

  function base(title) {
    return {
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText", confine: true },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      title: { show: false, text: title }
    };
  }

  function optionFor(c, rows) {
    var opt = base(label(c.id)), total = 0;
    var cols = valueCols(c);
    var unit = c.ratio ? "%" : "";
    if (c.kind === "bar" || c.kind === "stack" || c.kind === "line") {
      var keyCols = c.series ? [c.x, c.series] : [c.x];
      var g = sums(rows, keyCols, cols);
      var cats = uniq(Object.keys(g).map(function (k) { return g[k].keys[0]; }));
      var names = c.series ? uniq(Object.keys(g).map(function (k) { return g[k].keys[1]; }))
        : (c.ratio ? [label("share")] : c.measures.map(label));
      var series = names.map(function (name, i) {
        var data = cats.map(function (cat) {
          var k = c.series ? cat + "\u0001" + name : cat;
          if (!has(g, k)) return null;
          var v = value(c, g[k].s, c.series ? c.measures[0] : c.measures[i]);
          if (v !== null) total += v;
          return v;
        });
        var s = { name: name, type: c.kind === "line" ? "line" : "bar", data: data };
        if (c.kind === "stack") s.stack = "total";
        return s;
      });
      opt.xAxis = { type: "category", data: cats, axisLabel: { hideOverlap: true } };
      opt.yAxis = { type: "value", name: unit, max: c.ratio ? 100 : null };
      opt.series = series;
    } else if (c.kind === "hbar") {
      var gh = sums(rows, [c.x], cols);
      var items = Object.keys(gh).map(function (k) { return [gh[k].keys[0], value(c, gh[k].s, c.measures[0])]; });
      items.sort(function (a, b) { return b[1] - a[1]; });
      items = items.slice(0, c.top).reverse();
      items.forEach(function (it) { total += it[1] || 0; });
      opt.yAxis = { type: "category", data: items.map(function (it) { return it[0]; }) };
      opt.xAxis = { type: "value" };
      opt.series = [{ name: label(c.measures[0]), type: "bar", data: items.map(function (it) { return it[1]; }) }];
    } else if (c.kind === "heatmap") {
      var gm = sums(rows, [c.x, c.y], cols);
      var xs = uniq(Object.keys(gm).map(function (k) { return gm[k].keys[0]; }));
      if (c.x === "weekday") xs = ["1", "2", "3", "4", "5", "6", "7"];
      var ys = uniq(Object.keys(gm).map(function (k) { return gm[k].keys[1]; }));
      var cells = [], max = 0;
      Object.keys(gm).forEach(function (k) {
        var v = value(c, gm[k].s, c.measures[0]);
        if (v === null) return;
        total += v;
        max = Math.max(max, v);
        cells.push([xs.indexOf(gm[k].keys[0]), ys.indexOf(gm[k].keys[1]), v]);
      });
      opt.tooltip = { renderMode: "richText", confine: true };
      opt.xAxis = { type: "category", data: xs };
      opt.yAxis = { type: "category", data: ys };
      opt.visualMap = { min: 0, max: c.ratio ? 100 : Math.max(max, 1), calculable: true, orient: "horizontal",
        left: "center", bottom: 0, inRange: { color: ["#f7fbff", "#08519c"] } };
      opt.grid.bottom = 48;
      opt.series = [{ name: label(c.ratio ? "share" : c.measures[0]), type: "heatmap", data: cells,
        label: { show: cells.length <= 120 } }];
    } else if (c.kind === "percentiles") {
      var hists = {};
      rows.forEach(function (r) {
        var k = key(r[c.x]);
        (hists[k] = hists[k] || []).push([num(r[c.value]), num(r[c.weight])]);
      });
      var xsP = uniq(Object.keys(hists));
      var p50 = xsP.map(function (k) { return percentile(hists[k], 0.5); });
      var p90 = xsP.map(function (k) { return percentile(hists[k], 0.9); });
      p50.concat(p90).forEach(function (v) { total += v || 0; });
      opt.xAxis = { type: "category", data: xsP };
      opt.yAxis = { type: "value", name: "min" };
      opt.series = [{ name: label("p50"), type: "bar", data: p50 }, { name: label("p90"), type: "bar", data: p90 }];
    } else if (c.kind === "weekly") {
      var gw = sums(rows, [c.x], cols);
      var weeks = uniq(Object.keys(gw));
      var counts = weeks.map(function (w) { return gw[w].s[c.measures[0]]; });
      // A week with data on fewer than 7 days (the first or the current one) is not compared: +69 % of a
      // partial week over a full one says nothing.
      var full = weeks.map(function (w) {
        var most = 0;
        rows.forEach(function (r) { if (key(r[c.x]) === w) most = Math.max(most, num(r.days)); });
        return most >= 7;
      });
      var change = counts.map(function (v, i) {
        return i && full[i] && full[i - 1] && counts[i - 1]
          ? Math.round((1000 * (v - counts[i - 1])) / counts[i - 1]) / 10 : null;
      });
      counts.forEach(function (v) { total += v; });
      opt.xAxis = { type: "category", data: weeks };
      opt.yAxis = [{ type: "value" }, { type: "value", name: "%", splitLine: { show: false } }];
      opt.series = [
        { name: label(c.measures[0]), type: "bar", data: counts },
        { name: label("change"), type: "line", yAxisIndex: 1, data: change }
      ];
    }
    return { option: opt, total: total };
  }

  function drawTable(c, rows, el) {
    var g = sums(rows, [c.x, c.y], c.measures);
    var table = document.createElement("table");
    var head = table.createTHead().insertRow();
    [c.x, c.y].concat(c.measures).forEach(function (col) {
      var th = document.createElement("th");
      th.textContent = label(col);
      head.appendChild(th);
    });
    var body = table.createTBody(), total = 0;
    Object.keys(g).sort().forEach(function (k) {
      var tr = body.insertRow();
      g[k].keys.forEach(function (v) { tr.insertCell().textContent = v; });
      c.measures.forEach(function (m) {
        var td = tr.insertCell();
        td.className = "num";
        td.textContent = g[k].s[m].toLocaleString();
        total += g[k].s[m];
      });
    });
    el.textContent = "";
    el.appendChild(table);
    return total;
  }

  function formatKpi(k, v) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    if (k.ratio || k.week_change) return (Math.round(v * 1000) / 10).toFixed(1) + "%";
    if (k.id === "bytes") {
      var units = ["B", "KB", "MB", "GB", "TB"], i = 0;
      while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
      return v.toFixed(i ? 1 : 0) + " " + units[i];
    }
    return Math.round(v).toLocaleString();
  }

  function kpiValue(k, f) {
    var c = cfg.charts.filter(function (x) { return x.id === k.chart; })[0];
    var rows = c ? filtered(c, f) : [];
    if (k.percentile) {
      return percentile(rows.map(function (r) { return [num(r[c.value]), num(r[c.weight])]; }), k.percentile);
    }
    if (k.week_change) {
      // Like with like: the 7 days ending on the last day shown against the 7 days before them (needs 14 days).
      var end = f.to || maxD;
      if (!end) return null;
      var day = function (n) { return new Date(Date.parse(end + "T00:00:00Z") - n * 86400000).toISOString().slice(0, 10); };
      if ((f.from || minD) > day(13)) return null;
      var last = 0, prev = 0;
      rows.forEach(function (r) {
        var d = String(r[c.date]).slice(0, 10);
        if (d > day(7) && d <= end) last += num(r[c.measures[0]]);
        else if (d > day(14) && d <= day(7)) prev += num(r[c.measures[0]]);
      });
      return prev ? (last - prev) / prev : null;
    }
    var cols = k.ratio ? k.ratio : [k.measure];
    var s = {};
    cols.forEach(function (m) { s[m] = 0; });
    rows.forEach(function (r) { cols.forEach(function (m) { s[m] += num(r[m]); }); });
    if (k.ratio) return s[k.ratio[1]] ? s[k.ratio[0]] / s[k.ratio[1]] : null;
    return s[k.measure];
  }

  function render() {
    var f = filters();
    cfg.charts.forEach(function (c) {
      var el = document.getElementById("chart-" + c.id);
      var rows = filtered(c, f), total;
      var empty = document.getElementById("empty-" + c.id);
      empty.hidden = rows.length > 0;
      if (c.kind === "table") {
        total = drawTable(c, rows, el);
      } else {
        var built = optionFor(c, rows);
        if (!drawn[c.id]) drawn[c.id] = echarts.init(el, null, { renderer: "canvas" });
        drawn[c.id].setOption(built.option, true);
        total = built.total;
      }
      el.setAttribute("data-rows", String(rows.length));
      el.setAttribute("data-total", String(Math.round(total * 1000) / 1000));
    });
    cfg.kpis.forEach(function (k) {
      var el = document.getElementById("kpi-" + k.id);
      var v = kpiValue(k, f);
      el.textContent = formatKpi(k, v);
      el.setAttribute("data-value", v === null || v === undefined ? "" : String(v));
    });
    if (CON) renderConsole(f);
    writeHash();
    document.body.setAttribute("data-rendered", String(num(document.body.getAttribute("data-rendered")) + 1));
  }

  // The stewards' console: red/amber/green against ui.thresholds (a share of the base, or the count when a
  // problem has no base); zero problems are always green.
  function rag(problems, base, p) {
    var level = base === null ? problems : (base === 0 ? 0 : problems / base);
    if (level >= p.red && level > 0) return "red";
    if (level >= p.amber && level > 0) return "amber";
    return "green";
  }
  function pct(v) { return (Math.round(v * 1000) / 10).toFixed(1) + "%"; }
  function cell(tr, text, cls) { var td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
  function ragCell(tr, colour) {
    var span = document.createElement("span");
    span.className = "rag " + colour;
    span.textContent = label(colour);
    tr.insertCell().appendChild(span);
  }
  function consoleRows(id, p, f) {
    return rowsOf(id).filter(function (r) {
      return keep({ inst: "institution", date: p.date, date_grain: p.date_grain }, r, f);
    });
  }

  function renderConsole(f) {
    var instBody = document.querySelector("#problems-by-institution tbody");
    var devBody = document.querySelector("#problems-by-device tbody");
    instBody.textContent = "";
    devBody.textContent = "";
    CON.problems.forEach(function (p) {
      var rows = consoleRows("console_" + p.id, p, f);
      var byInst = {}, total = 0, base = null;
      rows.forEach(function (r) {
        var k = key(r.institution);
        var g = byInst[k] = byInst[k] || { problems: 0, base: null };
        g.problems += num(r.problems);
        total += num(r.problems);
        if (r.base !== null && r.base !== undefined) {
          g.base = (g.base || 0) + num(r.base);
          base = (base || 0) + num(r.base);
        }
      });
      var colour = rag(total, base, p);
      var tile = document.getElementById("tile-" + p.id);
      tile.className = "tile " + colour;
      tile.setAttribute("data-problems", String(total));
      tile.querySelector(".count").textContent = Math.round(total).toLocaleString();
      tile.querySelector(".share").textContent = base ? " · " + pct(total / base) : "";
      var badge = tile.querySelector(".rag");
      badge.className = "rag " + colour;
      badge.textContent = label(colour);
      Object.keys(byInst).sort().forEach(function (inst) {
        var g = byInst[inst], tr = instBody.insertRow();
        cell(tr, label("problem_" + p.id));
        cell(tr, inst);
        cell(tr, Math.round(g.problems).toLocaleString(), "num");
        cell(tr, g.base === null ? "" : Math.round(g.base).toLocaleString(), "num");
        cell(tr, g.base ? pct(g.problems / g.base) : "—", "num");
        ragCell(tr, rag(g.problems, g.base, p));
      });
      if (!p.devices) return;
      var g2 = sums(consoleRows("console_" + p.id + "_devices", p, f), ["institution", "device"], ["problems"]);
      Object.keys(g2).map(function (k) { return g2[k]; })
        .sort(function (a, b) { return b.s.problems - a.s.problems; }).slice(0, 15)
        .forEach(function (g) {
          var tr = devBody.insertRow();
          cell(tr, label("problem_" + p.id));
          cell(tr, g.keys[0]);
          cell(tr, g.keys[1]);
          cell(tr, Math.round(g.s.problems).toLocaleString(), "num");
        });
    });
    var names = document.querySelector("#top-raw-names tbody");
    if (names) {
      names.textContent = "";
      rowsOf("console_top_raw_names").filter(function (r) { return !f.inst || key(r.institution) === f.inst; })
        .slice(0, 20).forEach(function (r) {
          var tr = names.insertRow();
          cell(tr, key(r.institution));
          cell(tr, key(r.raw_name));
          cell(tr, key(r.status));
          cell(tr, num(r.exams).toLocaleString(), "num");
        });
    }
  }

  instSel.form.addEventListener("submit", function (e) { e.preventDefault(); });
  instSel.addEventListener("change", render);
  fromIn.addEventListener("change", render);
  toIn.addEventListener("change", render);
  document.getElementById("f-reset").addEventListener("click", function () { resetFilters(); render(); });
  window.addEventListener("hashchange", function () { applyHash(); render(); });
  window.addEventListener("resize", function () { Object.keys(drawn).forEach(function (k) { drawn[k].resize(); }); });
  applyHash();
  render();
})();
