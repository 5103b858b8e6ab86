import type { Admin, Consumer } from 'kafkajs';
import type { Ownerships } from '../pipeline/ownership.js';

/**
 * Feeds the membership lease of `ownership` from kafkajs' instrumentation: a heartbeat answered
 * without error (the `heartbeat` event) confirms the membership as of when its request was sent
 * (the `request` event, emitted when the answer arrives and before kafkajs parses it, carries
 * `sentAt`). The send time matters: a process frozen between sending a heartbeat and reading its
 * answer reads it after the thaw, but the broker heard from it before the freeze. A group sync
 * confirms it in the same way; `joined()` gives that time for the join just announced.
 */
export function watchMembership(consumer: Consumer, ownership: Ownerships): { joined(): number } {
  let heartbeatSentAt: number | undefined;
  let syncSentAt = -Infinity;
  consumer.on(consumer.events.REQUEST, (e) => {
    const { apiName, sentAt } = e.payload;
    if (apiName === 'Heartbeat') heartbeatSentAt = sentAt;
    else if (apiName === 'SyncGroup') syncSentAt = sentAt;
  });
  consumer.on(consumer.events.HEARTBEAT, () => {
    if (heartbeatSentAt !== undefined) ownership.confirmed(heartbeatSentAt);
    heartbeatSentAt = undefined;
  });
  return { joined: () => syncSentAt };
}

/**
 * After a rejoin under a new member id (the group dropped this instance: its session expired, as
 * in a stall past the session timeout), whether a partition assigned again was committed by
 * someone else meanwhile: its committed offset is none of those this instance found or sent
 * (`own`). A broker restart also makes kafkajs rejoin under a new id; then nobody else read the
 * partition, its committed offset is still this instance's, and what is in flight goes on. An
 * offset that cannot be read counts as moved (setting the partition up again is always safe).
 */
export async function committedElsewhere(
  admin: Admin | undefined,
  groupId: string,
  topic: string,
  partition: number,
  own: ReadonlySet<number>,
): Promise<{ moved: boolean; committed: number | undefined }> {
  if (!admin) return { moved: true, committed: undefined };
  try {
    const [res] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const part = res?.partitions.find((x) => x.partition === partition);
    const committed = Number(part?.offset ?? -1);
    return { moved: !own.has(committed), committed };
  } catch {
    return { moved: true, committed: undefined };
  }
}
