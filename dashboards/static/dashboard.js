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

  // The filters' choices: every institution and the date span of the page's rows.
  var insts = [], minD = null, maxD = null;
  cfg.charts.forEach(function (c) {
    rowsOf(c.id).forEach(function (r) {
      if (c.inst && r[c.inst] !== null && r[c.inst] !== undefined) insts.push(String(r[c.inst]));
      if (c.date && r[c.date]) {
        var d = String(r[c.date]).slice(0, 10);
        if (minD === null || d < minD) minD = d;
        if (maxD === null || d > maxD) maxD = d;
      }
    });
  });
  uniq(insts).forEach(function (name) { instSel.appendChild(new Option(name, name)); });
  function resetFilters() {
    instSel.value = "";
    fromIn.value = minD || "";
    toIn.value = maxD || "";
  }

  function filters() { return { inst: instSel.value, from: fromIn.value, to: toIn.value }; }

  function keep(c, r, f) {
    if (c.inst && f.inst && key(r[c.inst]) !== f.inst) return false;
    if (c.date && (f.from || f.to)) {
      var v = r[c.date];
      if (!v) return false;
      var start = String(v).slice(0, 10);
      var end = c.date_grain === "month" ? start.slice(0, 7) + "-31" : start;
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
      var change = counts.map(function (v, i) {
        return i && counts[i - 1] ? Math.round((1000 * (v - counts[i - 1])) / counts[i - 1]) / 10 : null;
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
      var g = sums(rows, [c.x], c.measures), weeks = uniq(Object.keys(g));
      if (weeks.length < 2) return null;
      var last = g[weeks[weeks.length - 1]].s[c.measures[0]], prev = g[weeks[weeks.length - 2]].s[c.measures[0]];
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
    document.body.setAttribute("data-rendered", String(num(document.body.getAttribute("data-rendered")) + 1));
  }

  instSel.form.addEventListener("submit", function (e) { e.preventDefault(); });
  instSel.addEventListener("change", render);
  fromIn.addEventListener("change", render);
  toIn.addEventListener("change", render);
  document.getElementById("f-reset").addEventListener("click", function () { resetFilters(); render(); });
  window.addEventListener("resize", function () { Object.keys(drawn).forEach(function (k) { drawn[k].resize(); }); });
  resetFilters();
  render();
})();
