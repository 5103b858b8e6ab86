import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import {
  DatasourceVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';

/** Panels query the data source chosen in the `datasource` variable (Prometheus by default). */
export const DS: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** The uid the provisioned data source has (deploy/grafana/provisioning/datasources). */
export const PROVISIONED_DS_UID = 'prometheus';

export const TAGS = ['aemon'];

export function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');
}

export interface Target {
  expr: string;
  legend?: string;
  /** Instant query (tables, bar gauges, "now" stats); range otherwise. */
  instant?: boolean;
}

/** A Prometheus query with refId A (B, C, … for the `index`-th query of a panel). */
export function target(t: Target, index = 0): Builder<Dataquery> {
  const q = new DataqueryBuilder()
    .datasource(DS)
    .refId(String.fromCharCode(65 + index))
    .expr(t.expr);
  if (t.legend !== undefined) q.legendFormat(t.legend);
  if (t.instant) q.instant();
  else q.range();
  return q;
}

/** Prometheus queries with refIds A, B, … in order. */
export function targets(list: readonly Target[]): Array<Builder<Dataquery>> {
  return list.map((t, i) => target(t, i));
}

/** Green, then each given colour from its value on. */
export function steps(...from: Array<[number, string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps([{ value: null, color: 'green' }, ...from.map(([value, color]) => ({ value, color }))]);
}

/** Panel ids 1, 2, … in the order panels are added, so the JSON is stable. */
export function idCounter(): () => number {
  let id = 0;
  return () => ++id;
}

/** Stable JSON: two-space indent, a final newline, no functions (the SDK's marker methods). */
export function toJson(dashboard: Dashboard): string {
  return JSON.stringify(dashboard, null, 2) + '\n';
}
