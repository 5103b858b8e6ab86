/**
 * The Confluent wire format: byte 0 is the magic 0, bytes 1–4 the schema id (big-endian), then
 * the payload. Protobuf puts the message indexes between the id and the payload: a zigzag varint
 * count, then that many zigzag varints (the path to the message type in the .proto file); a
 * count of 0 stands for `[0]`, the file's first message.
 */

export interface Framed {
  schemaId: number;
  /** Where the payload (or, for Protobuf, the message indexes) starts. */
  offset: number;
}

/** The schema id of a framed record, or why it is not framed. */
export function unframe(raw: Uint8Array): Framed | { error: string } {
  if (raw.byteLength < 5) return { error: `${raw.byteLength} bytes: shorter than the 5-byte header` };
  if (raw[0] !== 0) return { error: `first byte ${raw[0]}, not the magic byte 0` };
  const id = ((raw[1]! << 24) | (raw[2]! << 16) | (raw[3]! << 8) | raw[4]!) >>> 0;
  return { schemaId: id, offset: 5 };
}

/** A zigzag varint (at most 5 bytes: 32 bits) at `pos`, or undefined when it is cut off or too long. */
function zigzag(buf: Uint8Array, pos: number): { value: number; next: number } | undefined {
  let result = 0;
  let shift = 0;
  for (let i = pos; i < buf.byteLength && i < pos + 5; i++) {
    const b = buf[i]!;
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      const u = result >>> 0;
      return { value: (u >>> 1) ^ -(u & 1), next: i + 1 };
    }
    shift += 7;
  }
  return undefined;
}

/** The longest index path taken: deeper nesting than this is not a real schema's. */
const MAX_INDEXES = 64;

/** Protobuf's message indexes from `offset`, and where the payload starts. */
export function messageIndexes(
  raw: Uint8Array,
  offset: number,
): { indexes: number[]; offset: number } | { error: string } {
  const count = zigzag(raw, offset);
  if (count === undefined) return { error: 'the message-index count is cut off' };
  if (count.value === 0) return { indexes: [0], offset: count.next };
  if (count.value < 0 || count.value > MAX_INDEXES)
    return { error: `message-index count ${count.value} (expected 0 to ${MAX_INDEXES})` };
  const indexes: number[] = [];
  let pos = count.next;
  for (let i = 0; i < count.value; i++) {
    const ix = zigzag(raw, pos);
    if (ix === undefined) return { error: `message index ${i} is cut off` };
    if (ix.value < 0) return { error: `message index ${i} is negative (${ix.value})` };
    indexes.push(ix.value);
    pos = ix.next;
  }
  return { indexes, offset: pos };
}

/** The framing a producer writes: header, (Protobuf) indexes, payload. For tests and the bench. */
export function frame(schemaId: number, payload: Uint8Array, indexes?: readonly number[]): Uint8Array {
  const head = [0, (schemaId >>> 24) & 0xff, (schemaId >>> 16) & 0xff, (schemaId >>> 8) & 0xff, schemaId & 0xff];
  if (indexes !== undefined) {
    const varint = (n: number): void => {
      let u = ((n << 1) ^ (n >> 31)) >>> 0;
      while (u > 0x7f) {
        head.push((u & 0x7f) | 0x80);
        u >>>= 7;
      }
      head.push(u);
    };
    if (indexes.length === 1 && indexes[0] === 0) varint(0);
    else {
      varint(indexes.length);
      for (const i of indexes) varint(i);
    }
  }
  const out = new Uint8Array(head.length + payload.byteLength);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}
