import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  alarmRoutes,
  feedbackEventId,
  parseSuppressSpan,
  parseVerdict,
  type AdminSpan,
} from '../../src/admin/alarms.js';
import { startAdminServer } from '../../src/admin/server.js';
import { parseLabel } from '../../src/training/labels.js';

test('property: the span and verdict parsers never throw, and give a span or a reason', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (doc) => {
      const span = parseSuppressSpan(doc);
      if (!('error' in span)) {
        assert.ok(span.end > span.start);
        assert.ok(span.sensors === 'all' || span.sensors.length > 0);
      }
      const verdict = parseVerdict(doc);
      assert.ok(typeof verdict === 'object' || verdict === 'false_alarm' || verdict === 'confirmed');
    }),
  );
  fc.assert(
    fc.property(fc.string(), (path) => {
      const id = feedbackEventId(path);
      assert.ok(id === undefined || typeof id === 'string');
    }),
  );
});

test('property: a well-formed span round-trips through JSON', () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 0, max: 4e12 }),
      fc.integer({ min: 1, max: 1e9 }),
      (sensors, start, length) => {
        const doc = JSON.parse(JSON.stringify({ sensors, start: new Date(start).toISOString(), end: start + length }));
        assert.deepEqual(parseSuppressSpan(doc), { sensors, start, end: start + length });
      },
    ),
  );
  assert.deepEqual(parseSuppressSpan({ all: true, start: 1, end: 2, reason: 'x' }), {
    sensors: 'all',
    start: 1,
    end: 2,
    reason: 'x',
  });
  assert.match(
    (parseSuppressSpan({ sensor: 'a', all: true, start: 1, end: 2 }) as { error: string }).error,
    /exactly one/,
  );
  assert.match((parseSuppressSpan({ sensor: 'a', start: 2, end: 2 }) as { error: string }).error, /start < end/);
  assert.match((parseSuppressSpan({ sensor: 'a', start: 1, end: 2, why: 1 }) as { error: string }).error, /"why"/);
  assert.equal(feedbackEventId('/events/a-1%2F2/feedback?x=1'), 'a-1/2');
  assert.equal(feedbackEventId('/events/%E0%A4%A/feedback'), undefined);
});

test('the admin routes: a span posted, a verdict on a known event, 404 for an unknown one, 400 for a bad verdict', async (t) => {
  const spans: AdminSpan[] = [];
  const marks: string[] = [];
  const admin = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    token: 'tok',
    parseLabel: (raw: string) => parseLabel(raw),
    labels: { add: () => undefined },
    routes: alarmRoutes({
      suppress: (s) => spans.push(s),
      feedback: (id, verdict) => (id === 'a-known' ? (marks.push(`${id} ${verdict}`), { ok: true }) : undefined),
    }),
  });
  t.after(() => admin.close());
  const post = (path: string, body: unknown, token = 'tok'): Promise<Response> =>
    fetch(`${admin.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  assert.equal(
    (await post('/suppress', { all: true, start: '2026-12-02T14:00:00Z', end: '2026-12-02T15:00:00Z' })).status,
    200,
  );
  assert.deepEqual(spans, [{ sensors: 'all', start: Date.UTC(2026, 11, 2, 14), end: Date.UTC(2026, 11, 2, 15) }]);
  assert.equal((await post('/suppress', { start: 1, end: 2 })).status, 400);
  assert.equal((await post('/events/a-known/feedback', { verdict: 'false_alarm' })).status, 200);
  assert.deepEqual(marks, ['a-known false_alarm']);
  assert.equal((await post('/events/a-other/feedback', { verdict: 'confirmed' })).status, 404);
  const bad = await post('/events/a-known/feedback', { verdict: 'maybe' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /false_alarm/);
  assert.equal((await post('/events/a-known/feedback', { verdict: 'confirmed' }, 'wrong')).status, 401);
  assert.equal(
    (await fetch(`${admin.url}/events/a-known/feedback`, { headers: { authorization: 'Bearer tok' } })).status,
    405,
  );
  assert.equal(marks.length, 1);
});
