// Dashboard widgets: draw the ECharts option the server emitted for each chart fragment (read
// from <script type="application/json">, as the CSP allows no inline script), attach the
// number formatters named by the widget's format, and turn clicks into drill-down links.
(function () {
  const zh = () => document.documentElement.lang !== "en";

  const formatters = {
    money(v) {
      if (v === null || v === undefined) return "—";
      const a = Math.abs(v);
      if (zh()) {
        if (a >= 1e8) return (v / 1e8).toFixed(2) + " 亿";
        if (a >= 1e4) return (v / 1e4).toFixed(1) + " 万";
      } else {
        if (a >= 1e9) return (v / 1e9).toFixed(2) + " bn";
        if (a >= 1e6) return (v / 1e6).toFixed(2) + " m";
      }
      return Math.round(v).toLocaleString();
    },
    percent(v) {
      return v === null || v === undefined ? "—" : Number(v).toFixed(1) + "%";
    },
    duration(v) {
      if (v === null || v === undefined) return "—";
      const m = Math.round(v), h = Math.floor(m / 60);
      if (h >= 24) return Math.floor(h / 24) + (zh() ? " 天 " : " d ") + (h % 24) + (zh() ? " 小时" : " h");
      if (h) return h + (zh() ? " 小时 " : " h ") + (m % 60) + (zh() ? " 分" : " min");
      return m + (zh() ? " 分" : " min");
    },
    plain(v) {
      if (v === null || v === undefined) return "—";
      return Number.isInteger(v) ? v.toLocaleString() : Number(v).toFixed(2);
    },
  };

  function formatterOf(name) {
    if (!name) return formatters.plain;
    if (formatters[name]) return formatters[name];
    const m = /^0(?:\.(0+))?(%?)$/.exec(name);
    if (m) {
      const places = (m[1] || "").length;
      return (v) => (v === null || v === undefined ? "—" : m[2] ? (v * 100).toFixed(places) + "%" : Number(v).toFixed(places));
    }
    return formatters.plain;
  }

  function drillUrl(base, meta, params) {
    const q = new URLSearchParams();
    if (meta.xkeys && params.dataIndex !== undefined) {
      const xi = meta.heatmap ? params.value[0] : params.dataIndex;
      q.set("x", meta.xkeys[xi] ?? "");
    }
    if (meta.skeys) {
      const si = Array.isArray(params.value) && params.seriesType === "heatmap" ? params.value[1] : params.seriesIndex;
      if (meta.skeys[si] !== undefined) q.set("series", meta.skeys[si]);
    }
    return base + (base.includes("?") ? "&" : "?") + q.toString();
  }

  function draw() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-dash-chart]").forEach((el) => {
      if (el.dataset.drawn) return;
      const source = document.getElementById(el.dataset.source);
      if (!source) return;
      const option = JSON.parse(source.textContent);
      const meta = option.scrm || {};
      delete option.scrm;
      const format = formatterOf(meta.format);
      // rich-text tooltips are drawn inside the chart: HTML ones carry inline styles the CSP refuses
      option.tooltip = Object.assign({}, option.tooltip, { valueFormatter: format, renderMode: "richText" });
      const axes = [].concat(option.yAxis || [], option.xAxis || []);
      axes.forEach((axis) => {
        if (axis && axis.type === "value" && !(axis.axisLabel && axis.axisLabel.formatter)) {
          axis.axisLabel = Object.assign({}, axis.axisLabel, { formatter: format });
        }
      });
      (option.series || []).forEach((s) => {
        if (s.scrmFormat) {
          s.tooltip = { valueFormatter: formatterOf(s.scrmFormat) };
          delete s.scrmFormat;
        }
      });
      meta.heatmap = (option.series || []).some((s) => s.type === "heatmap");
      const chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option);
      el.dataset.drawn = "1";
      const base = el.dataset.drill;
      if (base) {
        chart.on("click", (params) => {
          if (params.componentType !== "series") return;
          const series = option.series[params.seriesIndex];
          if (series && series.yAxisIndex === 1) return; // the cumulative line of a Pareto chart
          window.location.assign(drillUrl(base, meta, params));
        });
      }
      new ResizeObserver(() => chart.resize()).observe(el);
    });
    document.querySelectorAll("tr[data-href]").forEach((row) => {
      if (row.dataset.bound) return;
      row.dataset.bound = "1";
      row.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        window.location.assign(row.dataset.href);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
