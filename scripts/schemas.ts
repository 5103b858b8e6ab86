/** Writes schemas/*.schema.json, the JSON Schemas of aemon's Kafka records, from their zod types. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageJsonSchemas } from '../src/sinks/message-schema.js';

const dir = join(import.meta.dirname, '..', 'schemas');
for (const [name, schema] of Object.entries(messageJsonSchemas())) {
  writeFileSync(join(dir, name), JSON.stringify(schema, null, 2) + '\n');
  console.log(`wrote schemas/${name}`);
}
