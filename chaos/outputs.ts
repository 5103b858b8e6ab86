// Reads a whole topic with kcat (an independent consumer, read_committed: what a downstream
// consumer of aemon's outputs would see, transactions or not).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { recordId, type OutputRecord, type RunOutputs } from './compare.js';

interface KcatRecord {
  payload: string | null;
  headers?: string[] | null;
}

const READ_TIMEOUT_MS = 120_000;

/** Every record of `topic` (values as text, headers as a map), from the beginning to the end offsets. */
export async function readTopic(
  brokers: string,
  topic: string,
): Promise<Array<{ value: string; headers: Record<string, string> }>> {
  const child = spawn(
    'kcat',
    ['-C', '-b', brokers, '-t', topic, '-o', 'beginning', '-e', '-q', '-J', '-X', 'isolation.level=read_committed'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out: Array<{ value: string; headers: Record<string, string> }> = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), READ_TIMEOUT_MS);
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    const rec = JSON.parse(line) as KcatRecord;
    const headers: Record<string, string> = {};
    const h = rec.headers ?? [];
    for (let i = 0; i + 1 < h.length; i += 2) headers[h[i]!] = h[i + 1]!;
    out.push({ value: rec.payload ?? '', headers });
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  // kcat says "Unknown topic or partition" for a topic that was never written: that is an empty output.
  if (code !== 0 && !/Unknown topic|UNKNOWN_TOPIC/.test(stderr)) {
    throw new Error(`kcat could not read ${topic} (exit ${code}): ${stderr.slice(-500)}`);
  }
  return out;
}

export interface OutputTopics {
  scores: string;
  dlq: string;
  anomalies: string;
}

/** The three output topics of a run, as records with ids. */
export async function readOutputs(brokers: string, topics: OutputTopics): Promise<RunOutputs> {
  const read = async (stream: keyof RunOutputs): Promise<OutputRecord[]> =>
    (await readTopic(brokers, topics[stream])).map((r) => ({
      id: recordId(stream, r.value, r.headers),
      // A dead letter's headers are part of what was written (reason, origin, size, digest).
      value: stream === 'dlq' ? `${JSON.stringify(r.headers, Object.keys(r.headers).sort())} ${r.value}` : r.value,
    }));
  return { scores: await read('scores'), dlq: await read('dlq'), anomalies: await read('anomalies') };
}
