// Renders the chaos and soak tables of docs/reliability.md from the committed `npm run chaos --
// --json` output in docs/data/chaos-*.json (`npm run docs:chaos`); test/chaos/docs.test.ts fails
// when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { ScenarioResult } from '../chaos/scenario.js';
import type { SoakResult } from '../chaos/soak.js';
import { DOCS, dataFiles, grouped, mdTable, provenance, readData, replaceBlock, runInfo } from './docs/blocks.js';

export interface ChaosJson {
  scenarios: Array<Omit<ScenarioResult, 'detail'> & Partial<Pick<ScenarioResult, 'detail'>>>;
  soak: SoakResult | null;
}

const dash = (x: number | null | undefined): string | number => (x === null || x === undefined ? '—' : x);

export function renderChaos(file: string, data: ChaosJson): string {
  const parts = [provenance(runInfo(file))];
  if (data.scenarios.length > 0) {
    parts.push(
      '\n' +
        mdTable(
          [
            'scenario',
            'readings in',
            'scored',
            'DLQ',
            'missing',
            'duplicates',
            'divergent duplicates',
            'differ from fault-free',
            'restarts',
            'max lag',
            'recovery s',
          ],
          data.scenarios.map((s) => [
            s.name + (s.exactlyOnce ? ' (exactly-once)' : ''),
            grouped(s.readingsIn),
            grouped(s.scored),
            s.dlq,
            s.missing,
            grouped(s.duplicates),
            grouped(s.divergentDuplicates),
            s.differs,
            s.restarts,
            grouped(s.maxLag),
            dash(s.recoverySeconds),
          ]),
        ),
    );
  }
  const detailed = data.scenarios.filter((s) => s.detail !== undefined);
  if (detailed.length > 0) {
    parts.push(
      '\nWhere the differences are:\n\n' +
        mdTable(
          [
            'scenario',
            'windows missing',
            'windows differing in the decision only',
            'windows differing beyond it',
            'anomaly events missing',
            'anomaly events extra',
            'dead letters missing',
          ],
          detailed.map((s) => {
            const d = s.detail!;
            return [
              s.name,
              d.scores.missing,
              d.scores.differs - d.scores.differsBeyondDecision,
              d.scores.differsBeyondDecision,
              d.anomalies.missing,
              d.anomalies.extra,
              d.dlq.missing,
            ];
          }),
        ),
    );
  }
  const soak = data.soak;
  if (soak) {
    parts.push(
      `\n**Soak**: ${grouped(soak.sensors)} sensors × ${soak.rateHz} Hz for ${soak.minutes} min\n\n` +
        mdTable(
          ['minute', 'RSS MB', 'heap MB', 'lag', 'p99 reading→score s'],
          soak.samples.map((x) => [x.minute, dash(x.rssMB), dash(x.heapMB), dash(x.lag), dash(x.p99Seconds)]),
        ) +
        `\nOffered ${grouped(soak.offered)} readings, ${grouped(soak.readingsIn)} reached Kafka; aemon took in ${grouped(soak.readingsPerSecond)}/s; max lag ${grouped(soak.maxLag)}; RSS slope over the last half ${dash(soak.rssSlopeMBPerMinLastHalf)} MB/min.\n`,
    );
  }
  return parts.join('');
}

export function chaosBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const file of dataFiles('chaos-'))
    blocks.set(file.replace(/\.json$/, ''), renderChaos(file, readData<ChaosJson>(file)));
  return blocks;
}

export const RELIABILITY_PAGE = new URL('reliability.md', DOCS);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let page = readFileSync(RELIABILITY_PAGE, 'utf8');
  for (const [name, content] of chaosBlocks()) page = replaceBlock(page, name, content);
  writeFileSync(RELIABILITY_PAGE, page);
}
