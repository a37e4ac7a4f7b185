// Charts drawn with the vendored ECharts from data the page carries in
// <script type="application/json"> elements (no inline script: the CSP allows none).
(function () {
  const palette = ["#1f5fa8", "#c8102e", "#2f9e8f", "#e0a100", "#6f42c1", "#5b6b82", "#d63384", "#20c997"];

  function money(value) {
    if (value === null || value === undefined) return "—";
    const abs = Math.abs(value);
    if (abs >= 1e8) return (value / 1e8).toFixed(2) + (document.documentElement.lang === "en" ? " hm" : " 亿");
    if (abs >= 1e4) return (value / 1e4).toFixed(1) + (document.documentElement.lang === "en" ? " 10k" : " 万");
    return value.toLocaleString();
  }

  const builders = {
    line(data) {
      return {
        color: palette,
        tooltip: { trigger: "axis", valueFormatter: money },
        legend: { data: data.labels, bottom: 0 },
        grid: { left: 8, right: 16, top: 16, bottom: 40, containLabel: true },
        xAxis: { type: "category", data: data.dates, boundaryGap: false },
        yAxis: { type: "value", scale: true, axisLabel: { formatter: money } },
        dataZoom: [{ type: "inside" }],
        series: [
          { name: data.labels[0], type: "line", data: data.total, showSymbol: false, areaStyle: { opacity: 0.08 } },
          { name: data.labels[1], type: "line", data: data.net, showSymbol: false },
        ],
      };
    },
    pie(data) {
      return {
        color: palette,
        tooltip: { trigger: "item", valueFormatter: money },
        legend: { type: "scroll", bottom: 0 },
        series: [{ type: "pie", radius: ["40%", "68%"], center: ["50%", "45%"], data, label: { show: false } }],
      };
    },
  };

  function draw() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach((el) => {
      if (el.dataset.drawn) return;
      const source = document.getElementById(el.dataset.source);
      const build = builders[el.dataset.chart];
      if (!source || !build) return;
      const chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(build(JSON.parse(source.textContent)));
      el.dataset.drawn = "1";
      new ResizeObserver(() => chart.resize()).observe(el);
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
