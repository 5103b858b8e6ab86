import { escapeHtml, inlineScript, viewAssets } from './assets.js';
import { DEFAULT_LATENT_CAPACITY } from './latent.js';

/**
 * Pages allow no network but their own server: no external script, style, image or font can
 * load even if one slipped in. Reports (opened from a file) get `connect-src 'none'`.
 */
function csp(connect: string): string {
  return `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ${connect}`;
}

export interface PageParts {
  title: string;
  /** Markup of the body (trusted: built here). */
  body: string;
  /** Attributes of `<body>`, e.g. `data-capacity="600"` (trusted). */
  bodyAttrs?: string;
  /** Scripts after uPlot, charts.js and latent.js, inlined in order. */
  scripts: readonly string[];
  /** JSON embedded as `<script type="application/json" id="report-data">`. */
  data?: unknown;
  /** `'self'` for the live view (its event stream); reports connect nowhere. */
  connect: "'self'" | "'none'";
  /** Inline uPlot, charts.js and latent.js (default true); a plain table page needs none of them. */
  charts?: boolean;
}

/** One self-contained HTML document: styles, uPlot, the view's scripts and data all inline. */
export function htmlDocument(parts: PageParts): string {
  const a = viewAssets();
  const data =
    parts.data === undefined
      ? ''
      : `<script type="application/json" id="report-data">${inlineScript(JSON.stringify(parts.data))}</script>\n`;
  return (
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<meta http-equiv="Content-Security-Policy" content="${csp(parts.connect)}">\n` +
    `<title>${escapeHtml(parts.title)}</title>\n` +
    (parts.charts === false ? '' : `<style>${a.uplotCss}</style>\n`) +
    `<style>${a.css}</style>\n</head>\n` +
    `<body${parts.bodyAttrs ? ` ${parts.bodyAttrs}` : ''}>\n${parts.body}\n${data}` +
    (parts.charts === false
      ? ''
      : `<script>${inlineScript(a.uplotJs)}</script>\n<script>${inlineScript(a.chartsJs)}</script>\n` +
        `<script>${inlineScript(a.latentJs)}</script>\n`) +
    parts.scripts.map((s) => `<script>${inlineScript(s)}</script>\n`).join('') +
    `</body>\n</html>\n`
  );
}

const LIVE_BODY = `<header>
  <h1>aemon live</h1>
  <span id="backend" class="muted">connecting…</span>
  <span id="conn" role="status" aria-live="polite" class="muted">connecting…</span>
</header>
<main class="live">
  <nav aria-labelledby="fleet-title">
    <h2 id="fleet-title">Sensors</h2>
    <p id="fleet-count" class="muted"></p>
    <p class="muted">Tab to the list, ↑/↓ to move, Enter to open a sensor.</p>
    <ul id="fleet" class="plain fleet"></ul>
  </nav>
  <section id="detail" aria-labelledby="detail-title">
    <h2 id="detail-title">Choose a sensor</h2>
    <p id="detail-meta" class="muted">Its channels, the model's reconstruction drawn over them, the score against the threshold and anomaly spans shaded.</p>
    <div class="key">
      <span><span class="swatch signal"></span>reading</span>
      <span><span class="swatch recon"></span>model reconstruction (expected value)</span>
      <span><span class="swatch band"></span>expected band (within it the channel alone stays under the threshold)</span>
      <span><span class="swatch threshold"></span>threshold</span>
      <span><span class="swatch detected"></span>anomalous (after hysteresis)</span>
      <span><span class="swatch suppressed"></span>suppressed (maintenance, machine off)</span>
    </div>
    <h3>Share of the window error by channel</h3>
    <ul id="shares" class="plain shares"></ul>
    <div id="score-chart" class="chart"></div>
    <div id="channel-charts"></div>
    <section id="latent" class="latent" hidden aria-labelledby="latent-title">
      <h3 id="latent-title">Latent space</h3>
      <p id="latent-caption" class="muted">Recent windows' codes projected on the training codes' first two principal directions, over the training windows in grey: a window far from the grey is unlike what the model learnt.</p>
      <div class="key">
        <span><span class="swatch dot sample"></span>training window</span>
        <span><span class="swatch dot normal"></span>normal</span>
        <span><span class="swatch dot anomalous"></span>anomalous</span>
        <span><span class="swatch dot suppressed"></span>suppressed</span>
        <span><span class="swatch dot newest"></span>newest window</span>
      </div>
      <div id="latent-chart" class="scatter"></div>
      <p id="latent-meta" class="muted"></p>
    </section>
  </section>
  <aside aria-labelledby="events-title" class="events">
    <h2 id="events-title">Anomalies</h2>
    <form id="feedback-token" hidden>
      <label for="admin-token">Admin token, to mark events as false alarms or confirmed</label>
      <input id="admin-token" type="password" autocomplete="off">
      <button type="submit">Use</button>
      <span id="feedback-status" role="status" aria-live="polite" class="muted"></span>
    </form>
    <h3>Open</h3>
    <p id="open-none" class="muted">none</p>
    <ul id="open-events" class="plain"></ul>
    <h3>Recent</h3>
    <p id="recent-none" class="muted">none yet</p>
    <ul id="recent-events" class="plain"></ul>
  </aside>
</main>`;

let livePageCache: { key: string; html: string } | undefined;

/**
 * The live view's page (`GET /`): everything inline, updates come from `/events`. With `feedback`
 * it offers to mark events (false alarm, confirmed) once the operator gives the admin token.
 */
export function livePage(capacity: number, feedback = false, latentCapacity = DEFAULT_LATENT_CAPACITY): string {
  const key = `${capacity}:${feedback}:${latentCapacity}`;
  if (livePageCache?.key !== key) {
    livePageCache = {
      key,
      html: htmlDocument({
        title: 'aemon live',
        body: LIVE_BODY,
        bodyAttrs: `data-capacity="${capacity}" data-latent-capacity="${latentCapacity}"${feedback ? ' data-feedback="true"' : ''}`,
        scripts: [viewAssets().liveJs],
        connect: "'self'",
      }),
    };
  }
  return livePageCache.html;
}
