// The product page's chart: on-hand units (summed over locations) after each movement,
// drawn as steps on a time axis with uPlot; units in and out marked in two colours.
// The data comes from a JSON script element (no inline script: the page's CSP).
(function () {
  "use strict";
  var box = document.getElementById("balance-chart");
  var source = document.getElementById("balance-series");
  if (!box || !source || typeof uPlot === "undefined") return;
  var points = JSON.parse(source.textContent);
  if (!points.length) {
    box.textContent = "No movement yet.";
    box.dataset.points = "0";
    return;
  }
  var times = [], values = [], ins = [], outs = [];
  points.forEach(function (p) {
    times.push(p.t);
    values.push(p.v);
    ins.push(p.d > 0 ? p.v : null);
    outs.push(p.d < 0 ? p.v : null);
  });
  // The line goes on to now (one point alone would give the time axis no span).
  var now = Date.now() / 1000;
  if (now > times[times.length - 1]) {
    times.push(now);
    values.push(values[values.length - 1]);
    ins.push(null);
    outs.push(null);
  }
  var marks = function (color) {
    return { stroke: color, fill: color, width: 0, paths: function () { return null; },
             points: { show: true, size: 7, stroke: color, fill: color } };
  };
  var opts = {
    width: Math.max(280, box.clientWidth),
    height: 240,
    scales: { x: { time: true } },
    // UTC, as every time on the console's pages.
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
    series: [
      {},
      { label: "On hand", stroke: "#1f4e79", width: 2, paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: false } },
      Object.assign({ label: "In" }, marks("#2e7d32")),
      Object.assign({ label: "Out" }, marks("#c62828")),
    ],
    axes: [{}, { label: "units" }],
    legend: { show: false },
  };
  new uPlot(opts, [times, values, ins, outs], box);
  // What the chart drew last, for a reader of the page (and its tests).
  box.dataset.points = String(points.length);
  box.dataset.last = String(points[points.length - 1].v);
  box.dataset.lastTime = String(points[points.length - 1].t);
})();
