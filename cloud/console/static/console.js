// shelfsync console: the little the pages need beyond htmx.
// - the "Live" light follows the SSE connection (htmx-ext-sse's events);
// - charts: an element with data-chart holds an ECharts option as JSON in its <script> child; it is
//   drawn on load and again whenever htmx swaps it in, and resized with the window.
(function () {
  "use strict";

  function setLive(state) {
    var light = document.getElementById("live");
    if (light) { light.dataset.state = state; }
  }
  document.addEventListener("htmx:sseOpen", function () { setLive("open"); });
  document.addEventListener("htmx:sseError", function () { setLive("lost"); });
  document.addEventListener("htmx:sseClose", function () { setLive("lost"); });

  var charts = [];
  function draw(root) {
    if (typeof echarts === "undefined") { return; }
    var nodes = (root || document).querySelectorAll("[data-chart]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var source = node.querySelector("script[type='application/json']");
      if (!source) { continue; }
      var option = JSON.parse(source.textContent);
      // Someone who asked their system for less motion gets the chart drawn at once.
      if (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
        option.animation = false;
      }
      var chart = echarts.getInstanceByDom(node) || echarts.init(node, null, { renderer: "canvas" });
      chart.setOption(option, true);
      charts.push(chart);
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    // A page without an event stream has nothing live to show: no light that never turns green.
    var light = document.getElementById("live");
    if (light && !document.querySelector("[sse-connect]")) { light.hidden = true; }
    draw(document);
  });
  // A chart swapped out by htmx is disposed, not left holding its canvas.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (typeof echarts === "undefined" || !e.detail.target) { return; }
    var gone = e.detail.target.querySelectorAll("[data-chart]");
    for (var i = 0; i < gone.length; i++) {
      var chart = echarts.getInstanceByDom(gone[i]);
      if (chart) { chart.dispose(); }
    }
  });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
  window.addEventListener("resize", function () {
    charts = charts.filter(function (c) { return !c.isDisposed(); });
    charts.forEach(function (c) { c.resize(); });
  });
})();
