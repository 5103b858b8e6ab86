import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AemonError } from '../errors.js';

/** The browser code and styles every page inlines; read once per process. */
export interface ViewAssets {
  uplotJs: string;
  uplotCss: string;
  css: string;
  chartsJs: string;
  latentJs: string;
  liveJs: string;
  reportJs: string;
}

let cached: ViewAssets | undefined;

function read(url: URL | string, what: string): string {
  try {
    return readFileSync(url, 'utf8');
  } catch (err) {
    throw new AemonError(
      'AEMON_INTERNAL',
      `cannot read the view's ${what} (${String(url)}): ${(err as Error).message}`,
      { stage: 'startup', cause: err },
    );
  }
}

/**
 * uPlot (from its npm package) and the view's own scripts (`browser/`, next to this module in
 * src/ and in dist/, where the build copies them), to be inlined: pages load nothing else.
 */
export function viewAssets(): ViewAssets {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const own = (file: string): string => read(new URL(`./browser/${file}`, import.meta.url), file);
  cached = {
    uplotJs: read(require.resolve('uplot/dist/uPlot.iife.min.js'), 'uPlot script'),
    uplotCss: read(require.resolve('uplot/dist/uPlot.min.css'), 'uPlot styles'),
    css: own('view.css'),
    chartsJs: own('charts.js'),
    latentJs: own('latent.js'),
    liveJs: own('live.js'),
    reportJs: own('report.js'),
  };
  return cached;
}

/** `</script` inside inlined text would end the element early. */
export function inlineScript(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1');
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
