import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { grafanaTemplate } from '../../scripts/dashboards/alerts.js';
import { DEPLOY, ROOT, requireTool, run, tempDir } from './tools.js';

const templated = (labels: Record<string, string> | undefined): Record<string, string> | undefined =>
  labels && Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, grafanaTemplate(v)]));

// Images cannot be pulled here, so the deployment files are checked with the tools that exist:
// docker-compose's own validation, a YAML parser, aemon's config schema, and cross-file consistency.

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const yamlFile = (path: string): Doc => parse(readFileSync(join(ROOT, path), 'utf8')) as Doc;

function filesUnder(dir: string, re: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path, re) : re.test(name) ? [path] : [];
  });
}

const k8s = (): Doc[] =>
  filesUnder(join(DEPLOY, 'k8s'), /\.ya?ml$/).flatMap((f) =>
    parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as Doc),
  );
const kind = (docs: Doc[], k: string): Doc => {
  const found = docs.filter((d) => d.kind === k);
  assert.equal(found.length, 1, `expected one ${k} in deploy/k8s`);
  return found[0]!;
};

test('every YAML file under deploy/ parses, every dashboard is JSON', () => {
  const yamls = filesUnder(DEPLOY, /\.ya?ml$/);
  assert.ok(yamls.length >= 12, `only ${yamls.length} YAML files`);
  for (const f of yamls) {
    for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) assert.deepEqual(doc.errors, [], relative(ROOT, f));
  }
  for (const f of filesUnder(join(ROOT, 'dashboards'), /\.json$/))
    assert.doesNotThrow(() => JSON.parse(readFileSync(f, 'utf8')), relative(ROOT, f));
});

test('docker-compose config accepts the compose file; the stack has its five services, wired to each other', async () => {
  requireTool('docker-compose');
  const res = await run('docker-compose', ['-f', join(DEPLOY, 'docker-compose.yml'), 'config']);
  assert.equal(res.code, 0, res.stderr);
  const compose = parse(res.stdout) as Doc;
  assert.deepEqual(Object.keys(compose.services).sort(), ['aemon', 'grafana', 'kafka', 'prometheus', 'simulator']);
  const { aemon, simulator, prometheus, grafana, kafka } = compose.services as Record<string, Doc>;

  // aemon's environment is a valid config (unknown AEMON_* variables would be errors), and it
  // consumes the topic the simulator produces, on the port Prometheus scrapes.
  const env = Object.fromEntries(
    Object.entries(aemon!.environment as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
  );
  const cfg = loadConfig({ env });
  assert.deepEqual(cfg.kafka.brokers, ['kafka:9092']);
  assert.equal(cfg.metrics.host, '0.0.0.0');
  assert.deepEqual(aemon!.command, ['run']);
  assert.match(simulator!.command.join(' '), new RegExp(`simulate --kafka-topic ${cfg.kafka.topics[0]} `));
  loadConfig({
    env: Object.fromEntries(
      Object.entries(simulator!.environment as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    ),
  });
  const scrape = yamlFile('deploy/prometheus/prometheus.yml') as Doc;
  const aemonJob = (scrape.scrape_configs as Doc[]).find((j) => j.job_name === 'aemon')!;
  assert.deepEqual(aemonJob.static_configs[0].targets, [`aemon:${cfg.metrics.port}`]);
  assert.equal(kafka!.environment.KAFKA_ADVERTISED_LISTENERS, `PLAINTEXT://${cfg.kafka.brokers[0]}`);

  // Prometheus gets deploy/prometheus (config + rules); Grafana its provisioning and dashboards/.
  const mounts = (s: Doc): Array<[string, string]> =>
    (s.volumes as string[]).map((v) => v.split(':').slice(0, 2) as [string, string]);
  assert.ok(
    mounts(prometheus!).some(([host, inside]) => host === join(DEPLOY, 'prometheus') && inside === '/etc/prometheus'),
  );
  assert.ok(prometheus!.command.includes('--config.file=/etc/prometheus/prometheus.yml'));
  assert.ok(
    mounts(grafana!).some(
      ([host, inside]) => host === join(DEPLOY, 'grafana/provisioning') && inside === '/etc/grafana/provisioning',
    ),
  );
  const provider = (yamlFile('deploy/grafana/provisioning/dashboards/aemon.yml').providers as Doc[])[0]!;
  assert.ok(
    mounts(grafana!).some(([host, inside]) => host === join(ROOT, 'dashboards') && inside === provider.options.path),
  );
  for (const s of [aemon!, simulator!]) assert.equal(s.build.dockerfile, 'deploy/Dockerfile');
});

test('the Dockerfile builds with npm ci from files that exist and runs `aemon run`', () => {
  const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  // Both stages on one Node line that package.json's engines supports.
  const lines = [...dockerfile.matchAll(/^FROM node:(\d+)-\S+(?: AS build)?$/gm)].map((m) => Number(m[1]));
  assert.equal(lines.length, 2, 'a build stage and a runtime stage, both FROM node:<major>-…');
  assert.equal(lines[0], lines[1], 'the build stage compiles the native addons for the Node line that runs them');
  const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } })
    .engines.node;
  const supported = engines.split('||').map((r) => Number(/^\s*\^(\d+)/.exec(r)?.[1]));
  assert.ok(supported.includes(lines[0]!), `node:${lines[0]} is not in engines ${engines}`);
  assert.match(dockerfile, /^RUN npm ci\b/m);
  assert.match(dockerfile, /^ENTRYPOINT \["node", "dist\/cli\/index\.js"\]$/m);
  assert.match(dockerfile, /^CMD \["run"\]$/m);
  for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const src of m[1]!.split(/\s+/))
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: no such file in the repository`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    scripts: Record<string, string>;
  };
  assert.equal(`${pkg.bin.aemon}`, 'dist/cli/index.js');
  assert.match(pkg.scripts.prepare ?? '', /build/);
});

test('the Kubernetes PrometheusRule carries exactly the groups of rules.yml', () => {
  const rule = kind(k8s(), 'PrometheusRule');
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.deepEqual(rule.spec.groups, yamlFile('deploy/prometheus/rules.yml').groups);
});

test('the Grafana-managed alert rules are the same alerts: names, expressions, for, labels, on the provisioned data source', () => {
  const prom = (yamlFile('deploy/prometheus/rules.yml').groups as Doc[]).flatMap((g) => g.rules as Doc[]);
  const grafana = (yamlFile('deploy/grafana/provisioning/alerting/aemon.yml').groups as Doc[]).flatMap(
    (g) => g.rules as Doc[],
  );
  assert.deepEqual(grafana.map((r) => r.title).sort(), prom.map((r) => r.alert).sort());
  const ds = (yamlFile('deploy/grafana/provisioning/datasources/prometheus.yml').datasources as Doc[])[0]!;
  assert.equal(ds.type, 'prometheus');
  assert.equal(ds.url, 'http://prometheus:9090');
  for (const p of prom) {
    const g = grafana.find((r) => r.title === p.alert)!;
    const query = (g.data as Doc[]).find((d) => d.refId === 'A')!;
    assert.equal(query.datasourceUid, ds.uid, p.alert);
    assert.equal(query.model.expr, p.expr, p.alert);
    assert.equal(g.for, p.for ?? '0s', p.alert);
    // Labels are templates (AemonAnomaly's severity): Grafana's names the query's value `$values.A.Value`.
    assert.deepEqual(g.labels, templated(p.labels as Record<string, string> | undefined), p.alert);
    assert.ok(
      (g.data as Doc[]).some((d) => d.refId === g.condition),
      `${p.alert}: condition ${g.condition} is no query`,
    );
    assert.equal(g.noDataState, 'OK', p.alert);
    assert.doesNotMatch(
      JSON.stringify(g.annotations),
      /\$value\b(?!s)/,
      `${p.alert}: Prometheus' $value in a Grafana template`,
    );
  }
});

test('Kubernetes manifests fit together: config valid, ports, selectors, probes, scrape job name', (t) => {
  const docs = k8s();
  const cm = kind(docs, 'ConfigMap');
  const deployment = kind(docs, 'Deployment');
  const service = kind(docs, 'Service');
  const monitor = kind(docs, 'ServiceMonitor');

  // The ConfigMap's aemon.yaml passes aemon's own schema, with the env the image sets.
  const file = join(tempDir(t, 'k8s'), 'aemon.yaml');
  writeFileSync(file, cm.data['aemon.yaml']);
  const cfg = loadConfig({ file, env: { AEMON_METRICS_HOST: '0.0.0.0' } });
  const container = deployment.spec.template.spec.containers[0];
  assert.deepEqual(container.args, ['run', '--config', `/etc/aemon/${Object.keys(cm.data)[0]}`]);
  const mount = container.volumeMounts.find((m: Doc) => m.name === 'config');
  assert.equal(mount.mountPath, '/etc/aemon');
  assert.equal(
    deployment.spec.template.spec.volumes.find((v: Doc) => v.name === 'config').configMap.name,
    cm.metadata.name,
  );
  assert.ok(
    container.volumeMounts.some((m: Doc) => m.mountPath === cfg.model.dir),
    'model.dir is not a mounted volume',
  );

  const port = container.ports.find((p: Doc) => p.name === 'metrics');
  assert.equal(port.containerPort, cfg.metrics.port);
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.port, 'metrics');
  assert.equal(container.readinessProbe.httpGet.port, 'metrics');
  // /readyz turns 503 on a failing sink or a stopped partition: Prometheus must go on scraping
  // such a pod (its metrics say why), so the Service publishes not-ready addresses.
  assert.equal(service.spec.publishNotReadyAddresses, true);

  const labels = deployment.spec.template.metadata.labels;
  assert.deepEqual(deployment.spec.selector.matchLabels, labels);
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v, `service selector ${k}`);
  assert.equal(service.spec.ports[0].targetPort, 'metrics');
  for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels))
    assert.equal(service.metadata.labels[k], v, `servicemonitor selector ${k}`);
  assert.equal(monitor.spec.endpoints[0].port, service.spec.ports[0].name);
  // The Operator names the job after the Service; AemonDown selects job="aemon".
  assert.equal(service.metadata.name, 'aemon');

  const kustomization = kind(docs, 'Kustomization');
  const listed = new Set(kustomization.resources as string[]);
  for (const f of readdirSync(join(DEPLOY, 'k8s')))
    if (f !== 'kustomization.yaml') assert.ok(listed.has(f), `${f} is not in kustomization.yaml`);
});
