// The training pages. The run form shows the fields of the chosen kind and method; the run
// page draws its curves with uPlot (static/vendor/uplot) and redraws them, and the log, when
// the htmx-polled live part shows that a new report has come in. Both pages work without it.
(function () {
  "use strict";

  // --- The run form -------------------------------------------------------------------------
  function syncRunForm(form) {
    var kindSelect = form.querySelector("[data-run-kind]");
    if (!kindSelect) return;
    var kind = kindSelect.value;
    var checked = form.querySelector("input[name=method]:checked");
    var method = checked ? checked.value : "full";
    form.querySelectorAll("[data-kinds]").forEach(function (wrapper) {
      var applies = wrapper.getAttribute("data-kinds").split(" ").indexOf(kind) >= 0 &&
        (!wrapper.hasAttribute("data-lora") || method === "lora");
      wrapper.hidden = !applies;
      wrapper.querySelectorAll("input").forEach(function (input) {
        input.disabled = !applies;
        var placeholder = input.getAttribute("data-placeholder-" + kind);
        if (placeholder !== null) input.placeholder = placeholder;
      });
    });
    // The base model follows the kind's default until someone types their own.
    var base = form.querySelector("[data-defaults]");
    if (base) {
      var defaults = JSON.parse(base.getAttribute("data-defaults"));
      var shown = form.getAttribute("data-kind-shown");
      if (shown && shown !== kind && base.value === defaults[shown]) base.value = defaults[kind];
      form.setAttribute("data-kind-shown", kind);
    }
  }

  function initRunForm() {
    document.querySelectorAll("[data-run-form]").forEach(function (form) {
      syncRunForm(form);
      form.addEventListener("change", function (event) {
        var name = event.target.name;
        if (name === "kind" || name === "method") syncRunForm(form);
      });
    });
  }

  // --- The run page's charts ----------------------------------------------------------------
  // The charts' colours come from the stylesheet (--chart-*, --fg, --line), so they follow the
  // light or dark theme; a canvas cannot be coloured by CSS once drawn, so a change of theme
  // redraws the charts.
  function colours() {
    var style = getComputedStyle(document.documentElement);
    function read(name, fallback) { return style.getPropertyValue(name).trim() || fallback; }
    return {
      train: read("--chart-train", "#c2410c"),
      eval: read("--chart-eval", "#1d4ed8"),
      accuracy: read("--chart-accuracy", "#166534"),
      axis: read("--muted", "#57606a"),
      grid: read("--line", "#e4ddd3")
    };
  }
  var TABLE_ROWS = 20;
  // A line needs two points, and a short one is easily missed: up to this many points, each
  // is drawn as a marker too (a run's first report drew empty axes).
  var FEW_POINTS = 5;
  // Steps are whole numbers: no tick at step 2.5.
  var STEP_INCREMENTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000,
    10000, 20000, 25000, 50000, 100000, 200000, 500000, 1000000];

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return String(values[key]); });
  }

  // Numbers as the page writes them, so that a chart and the results table agree (a Spanish
  // page's table said 2,5687 and its chart 2.5687): the separators are the page language's,
  // from the server (Django's formats: the browser's own Spanish data groups thousands
  // otherwise), and the rounding the `metric` filter's: whole numbers whole, others to at
  // most four decimals, one from 100 on. Intl rounds the exact value half away from zero, as
  // that filter does.
  var separators = { decimal: ".", group: "," };
  var formats = {};

  function written(value, places) {
    var intl = formats[places];
    if (!intl) intl = formats[places] = new Intl.NumberFormat("en-US", { maximumFractionDigits: places });
    return intl.formatToParts(value).map(function (part) {
      if (part.type === "decimal") return separators.decimal;
      if (part.type === "group") return separators.group;
      return part.value;
    }).join("");
  }

  function number(value) {
    if (value === null || value === undefined) return "—";
    if (Number.isInteger(value)) return written(value, 0);
    return written(value, Math.abs(value) < 100 ? 4 : 1);
  }

  // A learning rate: two significant digits and an exponent (2.0e-5), which four decimals
  // would show as 0.
  function rateNumber(value) {
    if (value === null || value === undefined) return "—";
    return value.toExponential(1).replace(".", separators.decimal);
  }

  function stepNumber(value) {
    return value === null || value === undefined ? "—" : written(value, 0);
  }

  // uPlot wants one x array and y arrays aligned with it (null where a series has no point).
  function aligned(xsList, ysList) {
    var byStep = {};
    xsList.forEach(function (xs, series) {
      xs.forEach(function (x, i) {
        if (!byStep[x]) byStep[x] = [];
        byStep[x][series] = ysList[series][i];
      });
    });
    var steps = Object.keys(byStep).map(Number).sort(function (a, b) { return a - b; });
    var out = [steps];
    ysList.forEach(function (_, series) {
      out.push(steps.map(function (step) {
        var v = byStep[step][series];
        return typeof v === "number" ? v : null;
      }));
    });
    return out;
  }

  // uPlot asks again on each redraw, so the markers go once the curve has grown.
  function fewPoints(u, seriesIdx) {
    var present = 0;
    var values = u.data[seriesIdx] || [];
    for (var i = 0; i < values.length && present <= FEW_POINTS; i++) {
      if (values[i] !== null && values[i] !== undefined) present++;
    }
    return present <= FEW_POINTS;
  }

  function showLatestInLegend(u) {
    if (u.cursor.idx == null && u.data[0].length) u.setLegend({ idx: u.data[0].length - 1 });
  }

  function Chart(figure, text, build) {
    this.figure = figure;
    this.plotBox = figure.querySelector(".chart-plot");
    this.summary = figure.querySelector(".chart-summary");
    this.tableBox = figure.querySelector(".chart-table");
    this.text = text;
    this.build = build;
    this.plot = null;
  }

  Chart.prototype.size = function () {
    var width = Math.max(200, Math.floor(this.plotBox.clientWidth || this.figure.clientWidth));
    return { width: width, height: width < 500 ? 200 : 260 };
  };

  Chart.prototype.update = function (data) {
    this.lastData = data;
    var built = this.build(data, this.text);
    this.total = data.total_steps || 0;
    // The last step of any curve, so that every chart of the run spans the same steps.
    this.lastStep = Math.max.apply(null, [0].concat(data.train.step, data.eval.step));
    this.figure.setAttribute("data-points", String(built.points));
    this.summary.textContent = built.summary || this.text.no_points;
    this.renderTable(built);
    if (!built.points) return;
    if (this.plot) {
      this.plot.setData(built.data);
      showLatestInLegend(this.plot);
      return;
    }
    var size = this.size();
    var chart = this;
    var c = colours();
    function axis(label, extra) {
      return Object.assign({ label: label, stroke: c.axis, grid: { stroke: c.grid, width: 1 },
        ticks: { stroke: c.grid, width: 1 } }, extra || {});
    }
    var options = {
      width: size.width,
      height: size.height,
      scales: {
        // From step 0 to the last step, so the curve also shows how far the run has come.
        // Not from uPlot's max: around a lone point it pads the range (one accuracy point at
        // step 2 spanned 0–4 while the loss chart of the same run spanned 0–2).
        x: { time: false, range: function () { return [0, Math.max(chart.lastStep, chart.total, 1)]; } },
        y: built.yRange ? { range: built.yRange } : {}
      },
      axes: [
        axis(this.text.step, { incrs: STEP_INCREMENTS, values: function (u, splits) { return splits.map(stepNumber); } }),
        axis(built.yLabel, { size: built.format ? 70 : 50, values: function (u, splits) { return splits.map(built.format || number); } })
      ],
      series: [{ label: this.text.step, value: function (u, v) { return stepNumber(v); } }].concat(built.series.map(function (s) {
        // Written as the axis and the table write it (a learning rate of 8e-6 read "0"); a
        // step without this series' point reads "—", as in the table.
        return Object.assign({ value: function (u, v) { return (built.format || number)(v); } }, s);
      })),
      legend: { live: true },
      // Away from the cursor the legend shows the latest point instead of dashes.
      hooks: {
        setCursor: [showLatestInLegend],
        // The steps the chart spans, said on the figure: the charts of one run span the same.
        setScale: [function (u, key) {
          if (key === "x") chart.figure.setAttribute("data-x-max", String(u.scales.x.max));
        }]
      }
    };
    this.plot = new window.uPlot(options, built.data, this.plotBox);
    showLatestInLegend(this.plot);
    if (this.observed) return;
    this.observed = true;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (chart.plot) chart.plot.setSize(chart.size());
      }).observe(this.figure);
    }
  };

  // Draw again from scratch, in the colours the stylesheet gives now.
  Chart.prototype.redraw = function () {
    if (!this.plot || !this.lastData) return;
    this.plot.destroy();
    this.plot = null;
    this.update(this.lastData);
  };

  // A visually hidden table of the latest points: what the chart shows, for screen readers.
  Chart.prototype.renderTable = function (built) {
    var data = built.data;
    var table = document.createElement("table");
    var caption = table.createCaption();
    caption.textContent = this.figure.querySelector("figcaption").textContent + ": " + this.text.table_caption;
    var head = table.createTHead().insertRow();
    [this.text.step].concat(built.series.map(function (s) { return s.label; })).forEach(function (label) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    var first = Math.max(0, data[0].length - TABLE_ROWS);
    for (var i = first; i < data[0].length; i++) {
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = stepNumber(data[0][i]);
      row.appendChild(th);
      for (var s = 1; s < data.length; s++) row.insertCell().textContent = (built.format || number)(data[s][i]);
    }
    this.tableBox.replaceChildren(table);
  };

  function lossChart(data, text) {
    var c = colours();
    var evalLoss = data.eval.eval_loss || [];
    var aligned_ = aligned([data.train.step, data.eval.step], [data.train.loss, evalLoss]);
    var summary = [];
    var n = data.train.step.length;
    if (n) summary.push(format(text.latest_train, { value: number(data.train.loss[n - 1]), step: stepNumber(data.train.step[n - 1]) }));
    for (var i = evalLoss.length - 1; i >= 0; i--) {
      if (typeof evalLoss[i] === "number") {
        summary.push(format(text.latest_eval, { value: number(evalLoss[i]), step: stepNumber(data.eval.step[i]) }));
        break;
      }
    }
    return {
      data: aligned_,
      points: aligned_[0].length,
      summary: summary.join(" "),
      yLabel: text.loss,
      series: [
        { label: text.train_loss, stroke: c.train, width: 2, spanGaps: true,
          points: { show: fewPoints, size: 7, stroke: c.train, fill: c.train } },
        { label: text.eval_loss, stroke: c.eval, fill: c.eval, width: 0, spanGaps: false,
          paths: function () { return null; }, points: { show: true, size: 8, stroke: c.eval, fill: c.eval } }
      ]
    };
  }

  // One series over steps: its points aligned, how many there are, and its latest point in
  // words (`template` with the value as `write` writes it).
  function oneSeries(steps, values, template, write) {
    var aligned_ = aligned([steps], [values]);
    var present = aligned_[1].filter(function (v) { return v !== null; }).length;
    var summary = "";
    for (var i = aligned_[1].length - 1; i >= 0; i--) {
      if (aligned_[1][i] !== null) {
        summary = format(template, { value: write(aligned_[1][i]), step: stepNumber(aligned_[0][i]) });
        break;
      }
    }
    return { data: aligned_, points: present, summary: summary };
  }

  function accuracyChart(data, text) {
    var c = colours();
    var one = oneSeries(data.eval.step, data.eval.eval_pairwise_accuracy || [], text.latest_accuracy, number);
    return Object.assign(one, {
      yLabel: text.accuracy,
      yRange: [0, 1],
      series: [
        { label: text.accuracy, stroke: c.accuracy, width: 2, spanGaps: true, points: { show: true, size: 7, fill: c.accuracy } }
      ]
    });
  }

  // The learning rate each step's update used (worker/runtime.step_lr): warm-up, then cosine.
  function lrChart(data, text) {
    var c = colours();
    var one = oneSeries(data.train.step, data.train.lr || [], text.latest_lr, rateNumber);
    return Object.assign(one, {
      yLabel: text.lr,
      format: rateNumber,
      series: [
        { label: text.lr, stroke: c.eval, width: 2, spanGaps: true,
          points: { show: fewPoints, size: 7, stroke: c.eval, fill: c.eval } }
      ]
    });
  }

  function initCharts() {
    var root = document.querySelector("[data-run-charts]");
    var textNode = document.getElementById("chart-text");
    if (!root || !textNode || !window.uPlot) return;
    var text = JSON.parse(textNode.textContent);
    if (text.decimal_separator) separators.decimal = text.decimal_separator;
    if (text.thousand_separator) separators.group = text.thousand_separator;
    var builders = { loss: lossChart, accuracy: accuracyChart, lr: lrChart };
    var charts = [];
    root.querySelectorAll("[data-chart]").forEach(function (figure) {
      var build = builders[figure.getAttribute("data-chart")];
      if (build) charts.push(new Chart(figure, text, build));
    });
    var empty = document.querySelector(".chart-empty");
    var logs = document.getElementById("run-logs");
    var url = root.getAttribute("data-url");
    var latestRequest = 0;

    function show(data) {
      var reported = data.train.step.length + data.eval.step.length > 0;
      if (!data.active && !reported) {
        // It ended without a report: no frames promising curves that will never come (the
        // stylesheet's grid would show a hidden one).
        root.remove();
        if (empty) {
          empty.textContent = text.no_reports;
          empty.hidden = false;
        }
      } else {
        charts.forEach(function (chart) { chart.update(data); });
        if (empty) empty.hidden = reported;
      }
      if (logs && data.logs_tail && logs.textContent !== data.logs_tail) {
        var atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        logs.textContent = data.logs_tail;
        if (atBottom) logs.scrollTop = logs.scrollHeight;
      }
    }

    function refresh() {
      var request = ++latestRequest;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          // A slower, older answer never overwrites a newer one.
          if (data && request === latestRequest) show(data);
        })
        .catch(function () { /* the next report tries again */ });
    }

    var live = document.getElementById("run-live");
    var seen = live ? live.getAttribute("data-seq") : null;
    var state = live ? live.getAttribute("data-state") : null;
    var announce = document.getElementById("run-announce");
    // Each htmx refresh of the live part carries the last report's number: redraw on a new one,
    // and say so when the state changes (the live part itself is not a live region: it is
    // replaced every two seconds).
    document.body.addEventListener("htmx:afterSettle", function () {
      var current = document.getElementById("run-live");
      if (!current) return;
      var key = current.getAttribute("data-seq");
      if (key !== seen) {
        seen = key;
        refresh();
      }
      var newState = current.getAttribute("data-state");
      if (newState !== state) {
        state = newState;
        if (announce) announce.textContent = current.getAttribute("data-state-label");
      }
    });
    refresh();
    if (window.matchMedia) {
      var scheme = window.matchMedia("(prefers-color-scheme: dark)");
      var redrawAll = function () { charts.forEach(function (chart) { chart.redraw(); }); };
      if (scheme.addEventListener) scheme.addEventListener("change", redrawAll);
    }
  }

  // --- The run page's log ------------------------------------------------------------------
  // The newest lines are at the bottom: open there (refreshes keep it there while it is).
  function initLogs() {
    var logs = document.getElementById("run-logs");
    if (logs) logs.scrollTop = logs.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", function () {
    initRunForm();
    initLogs();
    initCharts();
  });
})();
