/** What the dashboard tests read out of the generated dashboards and rule files. */

export interface Query {
  /** Where the expression sits, e.g. `aemon-overview panel 8 "Top channels" A`. */
  where: string;
  expr: string;
}

interface PanelJson {
  id?: number;
  title?: string;
  type?: string;
  targets?: Array<{ refId?: string; expr?: string }>;
  panels?: PanelJson[];
}

export interface DashboardJson {
  uid: string;
  title: string;
  panels?: PanelJson[];
  templating?: { list?: Array<{ name: string; type: string; query?: unknown }> };
  annotations?: { list?: Array<{ name: string; expr?: string }> };
}

/**
 * Every PromQL expression of a dashboard: panel targets, annotation queries, and the series
 * selector of `label_values(<selector>, label)` variables.
 */
export function dashboardQueries(d: DashboardJson): Query[] {
  const out: Query[] = [];
  const walk = (panels: readonly PanelJson[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr !== undefined) out.push({ where: `${d.uid} panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
      }
      walk(p.panels ?? []);
    }
  };
  walk(d.panels ?? []);
  for (const a of d.annotations?.list ?? []) {
    if (a.expr !== undefined) out.push({ where: `${d.uid} annotation "${a.name}"`, expr: a.expr });
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query' || typeof v.query !== 'string') continue;
    const m = /^label_values\((.+),\s*\w+\)$/.exec(v.query);
    if (!m) throw new Error(`${d.uid} variable ${v.name}: unexpected query ${v.query}`);
    out.push({ where: `${d.uid} variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

/** Grafana's variables replaced by values Prometheus can evaluate. */
export function substitute(expr: string, vars: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare!;
    const value = vars[name];
    if (value === undefined) throw new Error(`no value for $${name} in ${expr}`);
    return value;
  });
}

/** Values for Grafana's built-in variables that any Prometheus accepts. */
export const GRAFANA_BUILTINS: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
};

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

/**
 * The metric names an expression selects. A small lexer, enough for the queries here: strings,
 * label matchers `{…}`, ranges `[…]` and grouping label lists go first; then every identifier that
 * is neither a keyword, a function call, nor part of a number or duration is a metric name.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = bare[m.index! - 1] ?? ' ';
    const after = bare.slice(m.index! + m[0].length);
    if (/[0-9.]/.test(before)) continue;
    if (/^\s*\(/.test(after)) continue;
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** `# TYPE <name> <type>` lines of a /metrics body → the series names each family exposes. */
export function exposedNames(body: string): Set<string> {
  const names = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
