import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readBlock } from '../../scripts/docs/blocks.js';
import { chaosBlocks, RELIABILITY_PAGE } from '../../scripts/docs-chaos.js';

test("docs/reliability.md's chaos tables are the ones docs/data/chaos-*.json gives (npm run docs:chaos)", () => {
  const page = readFileSync(RELIABILITY_PAGE, 'utf8');
  const blocks = chaosBlocks();
  assert.ok(blocks.size > 0, 'no chaos JSON in docs/data');
  for (const [name, content] of blocks) {
    const now = readBlock(page, name);
    assert.ok(now !== undefined, `docs/reliability.md has no generated:${name} block`);
    assert.equal(now, content, `docs/reliability.md's generated:${name} block is stale`);
  }
});
