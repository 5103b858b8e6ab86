/* The latent-space scatter of the live view and the reports: a sensor's windows where their
   codes fall on the first two principal directions of its model's training codes, over that
   model's training windows in grey, coloured by state. A plain canvas, in charts.js's colours. */
/* global aemonCharts */
/* exported aemonLatent */
'use strict';

const aemonLatent = (() => {
  const { theme, formatValue, el } = aemonCharts;

  /** About `count` round tick values covering [min, max]. */
  function ticks(min, max, count) {
    const raw = (max - min) / count;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => raw <= s) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
      out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function mark(ctx, shape, x, y, r) {
    ctx.beginPath();
    if (shape === 'square') ctx.rect(x - r, y - r, 2 * r, 2 * r);
    else if (shape === 'diamond') {
      ctx.moveTo(x, y - r * 1.3);
      ctx.lineTo(x + r * 1.3, y);
      ctx.lineTo(x, y + r * 1.3);
      ctx.lineTo(x - r * 1.3, y);
      ctx.closePath();
    } else ctx.arc(x, y, r, 0, 2 * Math.PI);
  }

  /**
   * A scatter of 2-D points on a canvas. `layers()`: [{x, y, color, radius, shape:
   * circle|square|diamond, ring}], drawn in order (a `ring` layer is stroked, not filled); the
   * axes span every layer's points. `label()`: the canvas's text for screen readers. As wide as
   * its container up to `maxWidth` (760) px. It has uPlot's `root`, `width`, `height` and
   * `setSize`, so charts.js's `fitWidth` keeps it wide; `toPos(x, y)` gives a value's canvas
   * pixel (device pixels, as uPlot's `valToPos(…, true)`).
   */
  function scatterChart(container, opts) {
    const root = el('div', { class: 'scatter-chart' });
    const canvas = el('canvas', { role: 'img' });
    if (opts.describedBy) canvas.setAttribute('aria-describedby', opts.describedBy);
    root.append(canvas);
    container.append(root);
    const pad = { left: 64, right: 12, top: 10, bottom: 40 };
    // Wider than this, a scatter is a flat strip.
    const maxWidth = opts.maxWidth || 760;
    const chart = {
      root,
      canvas,
      width: 0,
      height: opts.height || 340,
      scale: null,
      layers: opts.layers,
      toPos(x, y) {
        const s = chart.scale;
        const dpr = devicePixelRatio || 1;
        return [
          (pad.left + ((x - s.x0) / (s.x1 - s.x0)) * s.w) * dpr,
          (pad.top + (1 - (y - s.y0) / (s.y1 - s.y0)) * s.h) * dpr,
        ];
      },
      setSize({ width, height }) {
        chart.width = Math.max(280, Math.min(maxWidth, width));
        chart.height = height;
        chart.redraw();
      },
      redraw() {
        draw(chart, opts, pad);
      },
      destroy() {
        root.remove();
      },
    };
    chart.width = Math.max(280, Math.min(maxWidth, container.clientWidth || 560));
    chart.redraw();
    return chart;
  }

  function extent(layers) {
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const l of layers)
      for (let i = 0; i < l.x.length; i++) {
        const x = l.x[i];
        const y = l.y[i];
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    if (!Number.isFinite(x0)) return { x0: -1, x1: 1, y0: -1, y1: 1 };
    const widen = (a, b) => {
      const span = b - a || Math.abs(a) || 1;
      return [a - span * 0.05, b + span * 0.05];
    };
    const [wx0, wx1] = widen(x0, x1);
    const [wy0, wy1] = widen(y0, y1);
    return { x0: wx0, x1: wx1, y0: wy0, y1: wy1 };
  }

  function draw(chart, opts, pad) {
    const t = theme();
    const dpr = devicePixelRatio || 1;
    const { canvas, width, height } = chart;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const layers = opts.layers();
    const e = extent(layers);
    chart.scale = { ...e, w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    const px = (x, y) => chart.toPos(x, y).map((v) => v / dpr);
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = t.grid;
    ctx.fillStyle = t.fg;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const bottom = pad.top + chart.scale.h;
    for (const v of ticks(e.x0, e.x1, Math.max(2, Math.round(chart.scale.w / 90)))) {
      const [x] = px(v, e.y0);
      ctx.beginPath();
      ctx.moveTo(x, pad.top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.fillText(formatValue(v, 2), x, bottom + 4);
    }
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of ticks(e.y0, e.y1, Math.max(2, Math.round(chart.scale.h / 60)))) {
      const [, y] = px(e.x0, v);
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(pad.left + chart.scale.w, y);
      ctx.stroke();
      ctx.fillText(formatValue(v, 2), pad.left - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.fillText(opts.xLabel(), pad.left + chart.scale.w / 2, height - 2);
    ctx.save();
    ctx.translate(12, pad.top + chart.scale.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText(opts.yLabel(), 0, 0);
    ctx.restore();
    // Points outside the plot area cannot happen (the axes span them); the clip keeps rings in.
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top, chart.scale.w, chart.scale.h);
    ctx.clip();
    for (const l of layers) {
      ctx.fillStyle = l.color;
      ctx.strokeStyle = l.color;
      ctx.lineWidth = l.ring ? 2 : 1;
      for (let i = 0; i < l.x.length; i++) {
        if (!Number.isFinite(l.x[i]) || !Number.isFinite(l.y[i])) continue;
        const [x, y] = px(l.x[i], l.y[i]);
        mark(ctx, l.shape, x, y, l.radius);
        if (l.ring) ctx.stroke();
        else ctx.fill();
      }
    }
    ctx.restore();
    canvas.setAttribute('aria-label', opts.label());
  }

  /** "PC 1 (62 %)": axis k and its share of the training codes' variance, when known. */
  function axisLabel(explained, k) {
    return explained ? `PC ${k + 1} (${Math.round(explained[k] * 100)} %)` : `PC ${k + 1}`;
  }

  /**
   * The layers of a latent view `l` ({x, y, state, sample, labelled}): the training sample, then
   * the windows by state (anomalous on top); with `labelled`, rings around the windows inside a
   * labelled anomaly; with `newest`, a ring around the last window.
   */
  function latentLayers(l, opts) {
    const t = theme();
    const sample = l.sample || [];
    const pick = (keep) => {
      const x = [];
      const y = [];
      for (let i = 0; i < l.x.length; i++)
        if (keep(i)) {
          x.push(l.x[i]);
          y.push(l.y[i]);
        }
      return { x, y };
    };
    const last = l.x.length - 1;
    const layers = [
      { name: 'sample', x: sample.map((p) => p[0]), y: sample.map((p) => p[1]), color: t.latentSample, radius: 2.5 },
      { name: 'normal', ...pick((i) => l.state[i] === 'normal'), color: t.latentNormal, radius: 3 },
      {
        name: 'suppressed',
        ...pick((i) => l.state[i] === 'suppressed'),
        color: t.latentSuppressed,
        radius: 3,
        shape: 'square',
      },
      {
        name: 'anomalous',
        ...pick((i) => l.state[i] === 'anomalous'),
        color: t.latentAnomalous,
        radius: 3.5,
        shape: 'diamond',
      },
    ];
    if (opts.labelled && l.labelled)
      layers.push({
        name: 'labelled',
        ...pick((i) => l.labelled[i] === 1),
        color: t.latentLabelled,
        radius: 5.5,
        ring: true,
      });
    if (opts.newest && last >= 0)
      layers.push({ name: 'newest', x: [l.x[last]], y: [l.y[last]], color: t.fg, radius: 7, ring: true });
    return layers;
  }

  /** What the scatter shows, for screen readers. */
  function describe(l, opts) {
    const n = (state) => l.state.filter((s) => s === state).length;
    const inside =
      opts.labelled && l.labelled ? `, ${l.labelled.filter((v) => v === 1).length} inside a labelled anomaly` : '';
    const last = l.x.length - 1;
    return (
      `latent space of model ${l.modelVersion}, ${axisLabel(l.explained, 0)} across, ${axisLabel(l.explained, 1)} up: ` +
      `${l.x.length} ${opts.what || 'windows'} (${n('anomalous')} anomalous, ${n('suppressed')} suppressed${inside}) over ` +
      `${(l.sample || []).length} training windows; the newest at latent distance ${formatValue(l.distance[last], 2)}`
    );
  }

  /**
   * A sensor's latent scatter in `container`: `get()` gives the latent view, read at each
   * redraw. `opts`: `newest` (ring the last window), `labelled` (ring the labelled windows),
   * `what` (how the text names the windows), `describedBy` (the caption's id).
   */
  function latentChart(container, get, opts = {}) {
    return scatterChart(container, {
      layers: () => latentLayers(get(), opts),
      xLabel: () => axisLabel(get().explained, 0),
      yLabel: () => axisLabel(get().explained, 1),
      label: () => describe(get(), opts),
      describedBy: opts.describedBy,
    });
  }

  return { scatterChart, latentChart };
})();
