/* Chart helpers shared by the live view and the reports: theme colours from CSS variables, time
   formatting (viewer's zone on the axis, UTC too on hover), shaded spans, and zoom kept in step
   across the charts of one sensor. Plain browser JS over the bundled uPlot (no network). */
/* exported aemonCharts */
'use strict';

const aemonCharts = (() => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function theme() {
    return {
      fg: css('--fg'),
      muted: css('--muted'),
      grid: css('--grid'),
      signal: css('--signal'),
      recon: css('--recon'),
      score: css('--score'),
      threshold: css('--threshold'),
      labelled: css('--labelled'),
      detected: css('--detected'),
      training: css('--training'),
      suppressed: css('--suppressed'),
      band: css('--band'),
      latentSample: css('--latent-sample'),
      latentNormal: css('--latent-normal'),
      latentAnomalous: css('--latent-anomalous'),
      latentSuppressed: css('--latent-suppressed'),
      latentLabelled: css('--latent-labelled'),
    };
  }

  const local = new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });

  /** "2026-11-27 11:00:00 (10:00:00.000Z)": the viewer's zone, then UTC. */
  function formatTime(ms) {
    if (ms == null || !Number.isFinite(ms)) return '—';
    const d = new Date(ms);
    return `${local.format(d)} (UTC ${d.toISOString().replace('T', ' ').replace('.000Z', 'Z')})`;
  }

  function formatValue(v, digits = 3) {
    if (v == null || !Number.isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    return v.toFixed(digits);
  }

  /**
   * Draws [from, to] spans as full-height bands, under the series; a layer's `label` is written at
   * the top of each of its spans that is wide enough to hold it.
   */
  function spansPlugin(layers) {
    return {
      hooks: {
        drawClear: [
          (u) => {
            const { ctx, bbox } = u;
            const dpr = devicePixelRatio;
            ctx.save();
            ctx.font = `${11 * dpr}px system-ui, sans-serif`;
            ctx.textBaseline = 'top';
            ctx.textAlign = 'left';
            for (const layer of layers()) {
              for (const [from, to] of layer.spans) {
                const x0 = u.valToPos(from, 'x', true);
                const x1 = u.valToPos(to, 'x', true);
                const left = Math.max(bbox.left, Math.min(x0, x1));
                const right = Math.min(bbox.left + bbox.width, Math.max(x0, x1));
                if (right < bbox.left || left > bbox.left + bbox.width) continue;
                // At least a pixel wide, so a one-reading span still shows.
                ctx.fillStyle = layer.color;
                ctx.fillRect(left, bbox.top, Math.max(right - left, dpr), bbox.height);
                if (layer.label && ctx.measureText(layer.label).width + 8 * dpr <= right - left) {
                  ctx.fillStyle = css('--muted');
                  ctx.fillText(layer.label, left + 4 * dpr, bbox.top + 3 * dpr);
                }
              }
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  /** A dashed horizontal line at `value` (the threshold, 1 on the score scale). */
  function hlinePlugin(value, color) {
    return {
      hooks: {
        draw: [
          (u) => {
            const y = u.valToPos(value, 'y', true);
            if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
            const { ctx } = u;
            ctx.save();
            ctx.strokeStyle = color;
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
            ctx.restore();
          },
        ],
      },
    };
  }

  /** Vertical markers at the given x values (detections: where an anomaly event opened). */
  function markersPlugin(xs, color) {
    return {
      hooks: {
        draw: [
          (u) => {
            const { ctx, bbox } = u;
            ctx.save();
            ctx.strokeStyle = color;
            ctx.lineWidth = 2 * devicePixelRatio;
            for (const x of xs()) {
              const px = u.valToPos(x, 'x', true);
              if (px < bbox.left || px > bbox.left + bbox.width) continue;
              ctx.beginPath();
              ctx.moveTo(px, bbox.top);
              ctx.lineTo(px, bbox.top + 8 * devicePixelRatio);
              ctx.moveTo(px - 5 * devicePixelRatio, bbox.top);
              ctx.lineTo(px + 5 * devicePixelRatio, bbox.top);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  /** Charts whose x zoom moves together (double-click on one resets them all). */
  function zoomGroup() {
    const charts = [];
    let busy = false;
    return {
      charts,
      add(u) {
        charts.push(u);
      },
      hook(u, key) {
        if (key !== 'x' || busy) return;
        busy = true;
        const { min, max } = u.scales.x;
        for (const other of charts) if (other !== u && min != null && max != null) other.setScale('x', { min, max });
        busy = false;
      },
    };
  }

  /**
   * A time chart. `series`: [{label, color, dash, width, unit}]; `data`: [x, ...ys] with x in ms.
   * `spans()`: [{color, spans, label?}] drawn as bands; `threshold`: a dashed line; `markers()`: x values;
   * `fill`: [{upper, lower, color}] fills between two series (1-based, as in `data`).
   */
  function timeChart(el, opts) {
    const t = theme();
    const width = Math.max(320, el.clientWidth || el.parentElement.clientWidth || 800);
    const axis = { stroke: t.fg, grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.grid, width: 1 } };
    const plugins = [spansPlugin(opts.spans || (() => []))];
    if (opts.threshold != null) plugins.push(hlinePlugin(opts.threshold, t.threshold));
    if (opts.markers) plugins.push(markersPlugin(opts.markers, t.threshold));
    const u = new uPlot(
      {
        title: opts.title,
        width,
        height: opts.height || 180,
        ms: 1,
        pxAlign: 0,
        scales: { x: { time: true }, y: opts.yRange ? { range: opts.yRange } : {} },
        axes: [
          { ...axis, label: `time (${zone})`, labelSize: 18 },
          { ...axis, label: opts.yLabel, labelSize: 18, size: 70 },
        ],
        series: [
          { label: 'time', value: (_u, v) => formatTime(v) },
          ...opts.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.width || 1.5,
            dash: s.dash,
            spanGaps: false,
            points: { show: false },
            value: (_u, v) => (v == null ? '—' : `${formatValue(v)}${s.unit ? ` ${s.unit}` : ''}`),
          })),
        ],
        cursor: { drag: { x: true, y: false, setScale: true }, sync: opts.sync ? { key: opts.sync } : undefined },
        hooks: opts.zoom ? { setScale: [(self, key) => opts.zoom.hook(self, key)] } : {},
        bands: (opts.fill || []).map((f) => ({ series: [f.upper, f.lower], fill: f.color })),
        plugins,
      },
      opts.data,
      el,
    );
    // uPlot's own double-click resets the zoom; the setScale hook carries it to the group.
    if (opts.zoom) opts.zoom.add(u);
    return u;
  }

  /** Keeps charts as wide as their containers. */
  function fitWidth(getCharts) {
    let pending = 0;
    window.addEventListener('resize', () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => {
        for (const u of getCharts()) {
          const w = u.root.parentElement.clientWidth;
          if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
        }
      });
    });
  }

  /** A DOM element: `class` and `text` attributes set className and textContent; children appended. */
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  return { zone, theme, formatTime, formatValue, timeChart, zoomGroup, fitWidth, el };
})();
