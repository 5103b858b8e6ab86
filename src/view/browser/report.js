/* A replay report: per sensor (file), the score against the threshold and each channel's signal,
   with the benchmark's labelled windows, aemon's detections and the training period shaded, and
   with scoring.latent a scatter of its windows in the model's latent space.
   Drag to zoom (the charts of one file move together), double-click to reset. The data is in
   the page (#report-data), already downsampled for display. */
/* global aemonLatent */
'use strict';

(() => {
  const { timeChart, theme, zoomGroup, fitWidth, formatTime, el } = aemonCharts;
  const report = JSON.parse(document.getElementById('report-data').textContent);
  const all = [];
  const drawn = [];
  const scatters = [];

  /**
   * The sensor's windows in its last model's latent space, over that model's training windows
   * (grey), coloured by aemon's state; with labels, windows that end inside a labelled anomaly
   * are ringed in the labels' colour.
   */
  function latentSection(box, s, index) {
    const l = s.latent;
    const captionId = `latent-caption-${index}`;
    const chartBox = el('div', { class: 'scatter' });
    box.append(
      el('h3', { text: 'Latent space' }),
      el('p', {
        class: 'muted',
        id: captionId,
        text:
          "Each window's code projected on the training codes' first two principal directions, over the training windows in grey: " +
          'a window far from the grey is unlike what the model learnt.',
      }),
      el(
        'div',
        { class: 'key' },
        el('span', {}, el('span', { class: 'swatch dot sample' }), 'training window'),
        el('span', {}, el('span', { class: 'swatch dot normal' }), 'normal'),
        el('span', {}, el('span', { class: 'swatch dot anomalous' }), 'anomalous (detected by aemon)'),
        el('span', {}, el('span', { class: 'swatch dot suppressed' }), 'suppressed'),
        ...(l.labelled
          ? [el('span', {}, el('span', { class: 'swatch dot labelled' }), 'inside a labelled anomaly')]
          : []),
      ),
      chartBox,
      el('p', {
        class: 'muted',
        text:
          `model ${l.modelVersion}: ${l.x.length.toLocaleString()} of its ${l.windows.toLocaleString()} windows drawn` +
          (l.x.length < l.windows ? ' (sampled: the kinds of window share them, rare ones kept whole)' : '') +
          (l.earlier ? `; ${l.earlier.toLocaleString()} windows of earlier models (another space) not drawn` : '') +
          (l.sample ? '' : '; its training windows are not known here'),
      }),
    );
    const chart = aemonLatent.latentChart(chartBox, () => l, { labelled: true, describedBy: captionId });
    scatters.push(chart);
    return chart;
  }

  function section(s, index) {
    const t = theme();
    const box = el('section', { class: 'file', id: `sensor-${index}`, 'data-sensor': s.id });
    const stats = s.stats;
    box.append(
      el('h2', { text: s.id }),
      el(
        'p',
        { class: 'muted' },
        `${stats.readings.toLocaleString()} readings (${formatTime(s.from)} – ${formatTime(s.to)}), ${stats.scored.toLocaleString()} scored, ` +
          `${s.detected.length} detection(s), ${s.labelled.length} labelled window(s)` +
          (s.points < stats.readings ? `; drawn as ${s.points.toLocaleString()} points (min/max per column)` : ''),
      ),
      el(
        'div',
        { class: 'key' },
        el('span', {}, el('span', { class: 'swatch labelled' }), 'labelled anomaly (benchmark)'),
        el('span', {}, el('span', { class: 'swatch detected' }), 'detected by aemon (anomaly state)'),
        el('span', {}, el('span', { class: 'swatch training' }), 'training period'),
        el('span', {}, el('span', { class: 'swatch suppressed' }), 'suppressed (maintenance, machine off)'),
        el('span', {}, el('span', { class: 'swatch threshold' }), 'threshold / detection start'),
      ),
    );
    const layers = () => [
      { color: t.training, spans: s.training },
      { color: t.suppressed, spans: s.suppressed || [] },
      { color: t.labelled, spans: s.labelled },
      { color: t.detected, spans: s.detected },
    ];
    const starts = () => s.events.map((e) => e.start);
    const zoom = zoomGroup();
    const scoreBox = el('div', { class: 'chart score' });
    box.append(scoreBox);
    const charts = [];
    // Attached before drawing: uPlot needs the container's width.
    document.getElementById('files').append(box);
    charts.push(
      timeChart(scoreBox, {
        title: 'anomaly score (what the decision compares with 1)',
        yLabel: 'score (× threshold)',
        series: [{ label: 'score', color: t.score, unit: '× threshold' }],
        data: [s.x, s.score],
        threshold: 1,
        spans: layers,
        markers: starts,
        zoom,
        sync: `f${index}`,
        yRange: (_u, _min, max) => [0, Math.max(2, (max || 0) * 1.05)],
      }),
    );
    s.channels.forEach((c, i) => {
      const cb = el('div', { class: 'chart', 'data-channel': c });
      box.append(cb);
      const series = [{ label: `${c}`, color: t.signal }];
      const data = [s.x, s.values[i]];
      if (s.reconstruction) {
        series.push({ label: `${c} reconstruction`, color: t.recon, dash: [5, 3] });
        data.push(s.reconstruction[i]);
      }
      charts.push(
        timeChart(cb, {
          title: c,
          yLabel: 'raw units',
          height: 140,
          series,
          data,
          spans: layers,
          markers: starts,
          zoom,
          sync: `f${index}`,
        }),
      );
    });
    all.push(...charts);
    const scatter = s.latent ? latentSection(box, s, index) : null;
    drawn.push({
      id: s.id,
      charts: charts.length,
      labelled: s.labelled.length,
      detected: s.detected.length,
      events: s.events.length,
      suppressed: (s.suppressed || []).length,
      latent: scatter ? scatters.length - 1 : null,
    });
  }

  const t0 = performance.now();
  document.getElementById('generated').textContent =
    `${report.source} · generated ${formatTime(report.generated)} · backend ${report.backend}`;
  report.sensors.forEach(section);
  fitWidth(() => [...all, ...scatters]);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => location.reload());
  // For tests and the curious: what was drawn, and how long it took (uPlot draws in a microtask:
  // by the next animation frame every chart is on its canvas).
  requestAnimationFrame(() => {
    window.aemonReport = { drawn, charts: all, scatters, renderMs: performance.now() - t0 };
    document.body.dataset.ready = 'true';
  });
})();
