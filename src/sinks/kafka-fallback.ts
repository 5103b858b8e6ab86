import type { IHeaders, Message } from 'kafkajs';

/**
 * One `kafka.dlqFallbackFile` line (NDJSON): the record a topic refused, with the topic it was
 * meant for, its key, its headers (for a DLQ record: reason, origin, original size and SHA-256)
 * and its value (UTF-8 text when it is valid UTF-8, else base64 with `valueBase64: true`), and
 * why the topic refused it.
 */
export function fallbackLine(topic: string, m: Message, error: string): string {
  const value =
    m.value === null || m.value === undefined ? null : typeof m.value === 'string' ? Buffer.from(m.value) : m.value;
  const text = value === null ? null : value.toString('utf8');
  const exact = value === null || Buffer.from(text!, 'utf8').equals(value);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((m.headers ?? {}) as IHeaders)) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) headers[k] = one.toString();
  }
  return (
    JSON.stringify({
      at: new Date().toISOString(),
      topic,
      key: m.key === null || m.key === undefined ? null : m.key.toString(),
      headers,
      ...(exact ? { value: text } : { value: value.toString('base64'), valueBase64: true }),
      error,
    }) + '\n'
  );
}
