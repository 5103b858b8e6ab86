/* The live view: the fleet list and one sensor's charts, kept current by Server-Sent Events
   (/events). It changes nothing on the server except an operator's verdict on an event, sent
   with the admin token they typed in (kept for the browser tab only). */
/* global aemonLatent */
'use strict';

(() => {
  const { formatTime, formatValue, timeChart, theme, fitWidth, el } = aemonCharts;
  const $ = (id) => document.getElementById(id);
  const MAX_POINTS = Number(document.body.dataset.capacity) || 600;
  const MAX_LATENT = Number(document.body.dataset.latentCapacity) || 512;

  const fleet = new Map(); // id → summary
  const open = new Map(); // sensor → opened event
  let recent = [];
  // `#sensor=ID&event=ID`, as the alert rules' links write it (urlquery spells a space `+`).
  const fromHash = (key) => {
    const m = location.hash.match(new RegExp(`[#&]${key}=([^&]+)`));
    return m ? decodeURIComponent(m[1].replace(/\+/g, ' ')) : null;
  };
  let selected = fromHash('sensor') || null;
  /** The event a link named: marked in the lists, and scrolled to once it is there. */
  const linkedEvent = fromHash('event');
  let linkedShown = false;
  let detail = null; // { id, channels, ts, values, reconstruction, score, anomaly, total, shares, modelVersion, backend, state, events, latent }
  let charts = [];
  let scatter = null;
  let source = null;

  // ---- the fleet list ----
  function drawSpark(canvas, spark) {
    const t = theme();
    const dpr = devicePixelRatio || 1;
    const w = canvas.clientWidth || 200;
    const h = canvas.clientHeight || 28;
    canvas.width = w * dpr;
    canvas.height = h * dpr;
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    const vals = spark.filter((v) => v != null);
    const top = Math.max(2, ...vals) * 1.05;
    const y = (v) => h - 1 - (v / top) * (h - 2);
    ctx.strokeStyle = t.threshold;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(0, y(1));
    ctx.lineTo(w, y(1));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = t.score;
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    let pen = false;
    spark.forEach((v, i) => {
      const x = spark.length > 1 ? (i / (spark.length - 1)) * w : w / 2;
      if (v == null) {
        pen = false;
        return;
      }
      if (pen) ctx.lineTo(x, y(v));
      else ctx.moveTo(x, y(v));
      pen = true;
    });
    ctx.stroke();
  }

  function sensorButton(s) {
    const b = el(
      'button',
      { type: 'button', class: 'sensor', 'data-id': s.id, 'aria-pressed': String(s.id === selected) },
      el('span', { class: 'name', text: s.id }),
      el('span', { class: `badge ${s.state}`, text: s.state }),
      el('span', {
        class: 'muted score',
        text: s.score == null ? 'no score yet' : `score ${formatValue(s.score, 2)} (threshold 1)`,
      }),
      el('span'),
      el('canvas', { 'aria-hidden': 'true' }),
    );
    b.setAttribute('aria-label', `${s.id}, ${s.state}${s.score == null ? '' : `, score ${formatValue(s.score, 2)}`}`);
    b.dataset.state = s.state;
    b.addEventListener('click', () => select(s.id));
    return b;
  }

  function renderSensor(s) {
    fleet.set(s.id, s);
    const list = $('fleet');
    const fresh = sensorButton(s);
    const old = list.querySelector(`button[data-id="${CSS.escape(s.id)}"]`);
    if (old) {
      const hadFocus = document.activeElement === old;
      old.replaceWith(fresh);
      if (hadFocus) fresh.focus();
    } else {
      const li = el('li', {}, fresh);
      const after = [...list.children].find((c) => c.firstChild.dataset.id > s.id);
      list.insertBefore(li, after || null);
    }
    drawSpark(fresh.querySelector('canvas'), s.spark);
  }

  function renderCount(untracked) {
    const counts = {};
    for (const s of fleet.values()) counts[s.state] = (counts[s.state] || 0) + 1;
    const parts = Object.entries(counts).map(([k, n]) => `${n} ${k}`);
    $('fleet-count').textContent =
      `${fleet.size} sensors${parts.length ? `: ${parts.join(', ')}` : ''}${untracked ? ` (+${untracked} not tracked)` : ''}`;
  }

  // Arrow keys move between sensors; Home/End jump; Enter/Space select (native buttons).
  $('fleet').addEventListener('keydown', (e) => {
    const buttons = [...$('fleet').querySelectorAll('button.sensor')];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, to))].focus();
  });

  // ---- verdicts on events (with the admin token) ----
  const FEEDBACK = document.body.dataset.feedback === 'true';
  const marks = new Map(); // event id → what its verdict did
  const token = () => sessionStorage.getItem('aemon-admin-token') || '';
  if (FEEDBACK) {
    $('feedback-token').hidden = false;
    $('feedback-status').textContent = token() ? 'token set' : '';
    $('feedback-token').addEventListener('submit', (ev) => {
      ev.preventDefault();
      sessionStorage.setItem('aemon-admin-token', $('admin-token').value.trim());
      $('admin-token').value = '';
      $('feedback-status').textContent = token() ? 'token set' : 'no token';
      renderEvents();
    });
  }

  async function mark(e, verdict) {
    marks.set(e.id, 'sending…');
    renderEvents();
    try {
      const res = await fetch(`api/events/${encodeURIComponent(e.id)}/feedback`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ verdict }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) marks.set(e.id, `not marked: ${body.error || res.status}`);
      else {
        const what = verdict === 'false_alarm' ? 'false alarm' : 'confirmed';
        const learnt = body.normalWindows == null ? '' : ` · ${body.normalWindows} of its windows in the normal data`;
        marks.set(e.id, `marked ${what}${body.muted ? ` · ${e.sensor} muted` : ''}${learnt}`);
      }
    } catch (err) {
      marks.set(e.id, `not marked: ${err.message}`);
    }
    renderEvents();
  }

  function feedbackControls(e) {
    if (!FEEDBACK || !token()) return [];
    const done = marks.get(e.id);
    if (done) return [el('span', { class: 'muted mark', 'data-event': e.id, text: ` · ${done}` })];
    const buttons = ['false_alarm', 'confirmed'].map((v) => {
      const text = v === 'false_alarm' ? 'false alarm' : 'confirmed';
      const b = el('button', {
        type: 'button',
        class: 'verdict',
        'data-event': e.id,
        'data-verdict': v,
        'aria-label': `mark ${e.sensor}'s anomaly ${text}`,
        text,
      });
      b.addEventListener('click', () => mark(e, v));
      return b;
    });
    return [el('div', { class: 'verdicts' }, ...buttons)];
  }

  // ---- anomaly events ----
  /** "vibration 45.47, expected 46.38 (−0.91) · 29 % of the error": a top channel of the peak window. */
  function explained(c) {
    const share = `${Math.round(c.share * 100)} % of the error`;
    if (c.reading == null) return `${c.channel}: ${share}`;
    if (c.expected == null || c.deviation == null) return `${c.channel} ${formatValue(c.reading, 2)} · ${share}`;
    const sign = c.deviation < 0 ? '−' : '+';
    return (
      `${c.channel} ${formatValue(c.reading, 2)}, expected ${formatValue(c.expected, 2)} ` +
      `(${sign}${formatValue(Math.abs(c.deviation), 2)}) · ${share}`
    );
  }

  function eventItem(e) {
    const btn = el('button', { type: 'button', text: e.sensor });
    btn.addEventListener('click', () => select(e.sensor));
    const when = e.kind === 'closed' ? `${formatTime(e.start)} – ${formatTime(e.end)}` : `since ${formatTime(e.start)}`;
    const closedBy = e.reason === 'suppressed' ? ' (suppressed)' : '';
    const top = (e.topChannels || []).map((c) => el('li', { text: explained(c) }));
    return el(
      'li',
      { 'data-event': e.id, ...(e.id === linkedEvent ? { class: 'linked', 'aria-current': 'true' } : {}) },
      btn,
      ` ${e.kind === 'opened' ? 'open · opened at score' : `closed${closedBy} · peak score`} ${formatValue(e.peakScore, 2)}${e.severity ? ` (${e.severity})` : ''}`,
      el('div', { class: 'muted when', text: when }),
      ...(top.length ? [el('ul', { class: 'top-channels' }, ...top)] : []),
      ...feedbackControls(e),
    );
  }

  function addEvents(events) {
    for (const e of events) {
      if (e.kind === 'opened') open.set(e.sensor, e);
      else open.delete(e.sensor);
      recent = [e, ...recent.filter((r) => r.id !== e.id)].slice(0, 50);
    }
    renderEvents();
  }

  function renderEvents() {
    // An open event is listed under Open only; it joins Recent when it closes.
    const closed = recent.filter((e) => e.kind === 'closed');
    $('open-events').replaceChildren(...[...open.values()].map(eventItem));
    $('recent-events').replaceChildren(...closed.map(eventItem));
    $('open-none').hidden = open.size > 0;
    $('recent-none').hidden = closed.length > 0;
    const linked = linkedShown ? null : document.querySelector('.events li.linked');
    if (linked) {
      linkedShown = true;
      linked.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---- one sensor ----
  function spansOf(d, flags = d.anomaly) {
    const spans = [];
    let start = -1;
    for (let i = 0; i < d.ts.length; i++) {
      if (flags[i]) {
        if (start < 0) start = i;
      } else if (start >= 0) {
        spans.push([d.ts[start], d.ts[i - 1]]);
        start = -1;
      }
    }
    if (start >= 0) spans.push([d.ts[start], d.ts[d.ts.length - 1]]);
    return spans;
  }

  function renderShares() {
    const list = $('shares');
    if (!detail.shares) {
      list.replaceChildren(el('li', { class: 'muted', text: 'no window scored yet' }));
      return;
    }
    list.replaceChildren(
      ...detail.channels.map((c, i) => {
        const pct = Math.round(detail.shares[i] * 100);
        const bar = el('span');
        bar.style.width = `${pct}%`;
        return el(
          'li',
          {},
          el('span', { text: c }),
          el('span', { class: 'bar', role: 'img', 'aria-label': `${pct} %` }, bar),
          el('span', { text: `${pct} %` }),
        );
      }),
    );
  }

  function renderMeta() {
    const d = detail;
    $('detail-title').textContent = d.id;
    $('detail-meta').textContent =
      `state ${d.state} · model ${d.modelVersion || 'none yet'} · backend ${d.backend}` +
      (d.threshold == null ? '' : ` · threshold in force ${formatValue(d.threshold, 4)} (scaled window error)`) +
      ` · ${d.ts.length} recent readings`;
    $('detail').dataset.sensor = d.id;
    $('detail').dataset.total = String(d.total);
    $('detail').dataset.lastTs = String(d.ts[d.ts.length - 1] || '');
  }

  function buildCharts() {
    for (const u of charts) u.destroy();
    charts = [];
    const t = theme();
    // The score chart names the suppressed spans; the channel charts below only shade them.
    const shade = (label) => () => [
      { color: t.suppressed, spans: spansOf(detail, detail.suppressed || []), label },
      { color: t.detected, spans: spansOf(detail) },
    ];
    $('score-chart').replaceChildren();
    $('channel-charts').replaceChildren();
    charts.push(
      timeChart($('score-chart'), {
        title:
          'anomaly score (what the decision compares with 1; above the dashed line the window is above the threshold in force)',
        yLabel: 'score (× threshold)',
        series: [{ label: 'score', color: t.score, unit: '× threshold' }],
        data: [detail.ts, detail.score],
        threshold: 1,
        spans: shade('suppressed'),
        yRange: (_u, min, max) => [0, Math.max(2, (max || 0) * 1.1)],
      }),
    );
    detail.channels.forEach((c, i) => {
      const box = el('div', { class: 'chart', 'data-channel': c });
      $('channel-charts').append(box);
      charts.push(
        timeChart(box, {
          title: c,
          yLabel: 'raw units',
          height: 150,
          series: [
            { label: `${c} reading`, color: t.signal },
            { label: `${c} model reconstruction`, color: t.recon, dash: [5, 3] },
            { label: 'expected low', color: t.band, width: 1 },
            { label: 'expected high', color: t.band, width: 1 },
          ],
          // The expected band: the reading may sit this far from the reconstruction before this
          // channel alone takes the window to the threshold.
          fill: [{ upper: 4, lower: 3, color: t.band }],
          data: channelData(i),
          spans: shade(undefined),
          sync: 'sensor',
        }),
      );
    });
  }

  /** Reading, reconstruction and the expected band (reconstruction ± tolerance) of channel i. */
  function channelData(i) {
    const recon = detail.reconstruction[i];
    const tol = detail.tolerance[i];
    const edge = (sign) => recon.map((r, k) => (r == null || tol[k] == null ? null : r + sign * tol[k]));
    return [detail.ts, detail.values[i], recon, edge(-1), edge(1)];
  }

  function chartData() {
    return [[detail.ts, detail.score], ...detail.channels.map((_c, i) => channelData(i))];
  }

  // ---- the latent space ----
  function renderLatent() {
    const l = detail.latent;
    const has = Boolean(l && l.x.length > 0);
    $('latent').hidden = !has;
    if (!has) {
      if (scatter) scatter.destroy();
      scatter = null;
      return;
    }
    const last = l.x.length - 1;
    $('latent-meta').textContent =
      `${l.x.length} recent windows, model ${l.modelVersion}` +
      (l.sample
        ? ` (${l.sample.length} of its training windows in grey)`
        : ' (its training windows are not known here)') +
      ` · newest window at latent distance ${formatValue(l.distance[last], 2)} (1 = the held-out normal windows' detection.quantile)`;
    if (scatter) scatter.redraw();
    else
      scatter = aemonLatent.latentChart($('latent-chart'), () => detail.latent, {
        newest: true,
        what: 'recent windows',
        describedBy: 'latent-caption',
      });
  }

  /** New windows in the latent space; a new model's space replaces the old one's (other coordinates). */
  function addLatent(p) {
    const l = detail.latent;
    if (!l || l.modelVersion !== p.modelVersion) {
      detail.latent = { ...p, sample: p.sample || null, explained: p.explained || null };
      return;
    }
    for (const k of ['ts', 'x', 'y', 'distance', 'state']) {
      l[k].push(...p[k]);
      if (l[k].length > MAX_LATENT) l[k].splice(0, l[k].length - MAX_LATENT);
    }
    if (p.sample) {
      l.sample = p.sample;
      l.explained = p.explained;
    }
  }

  function onSensor(d) {
    detail = { ...d, ...d.points, latent: d.latent || null };
    renderMeta();
    renderShares();
    buildCharts();
    renderLatent();
  }

  function onPoints(p) {
    if (!detail || p.id !== detail.id) return;
    const pts = p.points;
    detail.total = pts.total;
    detail.state = p.state;
    detail.shares = p.shares;
    detail.modelVersion = p.modelVersion;
    const trim = (a, add) => {
      a.push(...add);
      if (a.length > MAX_POINTS) a.splice(0, a.length - MAX_POINTS);
    };
    trim(detail.ts, pts.ts);
    trim(detail.score, pts.score);
    trim(detail.anomaly, pts.anomaly);
    trim(detail.suppressed, pts.suppressed);
    detail.channels.forEach((_c, i) => {
      trim(detail.values[i], pts.values[i]);
      trim(detail.reconstruction[i], pts.reconstruction[i]);
      trim(detail.tolerance[i], pts.tolerance[i]);
    });
    renderMeta();
    renderShares();
    chartData().forEach((data, i) => charts[i] && charts[i].setData(data));
    if (p.latent) {
      addLatent(p.latent);
      renderLatent();
    }
  }

  function select(id) {
    if (id === selected && source) return;
    selected = id;
    history.replaceState(null, '', `#sensor=${encodeURIComponent(id)}`);
    for (const b of document.querySelectorAll('button.sensor'))
      b.setAttribute('aria-pressed', String(b.dataset.id === id));
    $('detail-title').textContent = id;
    $('detail-meta').textContent = 'loading…';
    connect();
  }

  // ---- the stream ----
  let backend = '';
  function renderModels(versions) {
    $('backend').textContent = `backend ${backend} · model ${versions.join(', ') || 'training…'}`;
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(selected ? `events?sensor=${encodeURIComponent(selected)}` : 'events');
    source.addEventListener('open', () => {
      $('conn').textContent = 'live';
      $('conn').dataset.state = 'live';
    });
    source.addEventListener('error', () => {
      $('conn').textContent = 'reconnecting…';
      $('conn').dataset.state = 'reconnecting';
    });
    source.addEventListener('fleet', (m) => {
      const f = JSON.parse(m.data);
      backend = f.backend;
      renderModels(f.modelVersions);
      for (const s of f.sensors) renderSensor(s);
      open.clear();
      for (const e of f.open) open.set(e.sensor, e);
      recent = f.recent;
      renderEvents();
      renderCount(f.untracked);
      document.body.dataset.ready = 'true';
    });
    source.addEventListener('fleet-delta', (m) => {
      const f = JSON.parse(m.data);
      for (const s of f.sensors) renderSensor(s);
      if (f.events.length) addEvents(f.events);
      renderModels(f.modelVersions);
      renderCount(f.untracked);
    });
    source.addEventListener('sensor', (m) => onSensor(JSON.parse(m.data)));
    source.addEventListener('points', (m) => onPoints(JSON.parse(m.data)));
  }

  // For tests and the curious: the selected sensor's data, its charts and its latent-space scatter.
  window.aemonLive = { detail: () => detail, charts: () => charts, scatter: () => scatter };
  fitWidth(() => (scatter ? [...charts, scatter] : charts));
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    for (const s of fleet.values()) renderSensor(s);
    if (detail) buildCharts();
    if (scatter) scatter.redraw();
  });
  connect();
})();
