// Fault injectors. Each runs beside the feed until `until` (wall clock), records every fault it
// injected (when it began, when the faulty part was back) and counts restarts. The waits between
// faults are the schedule itself (seeded, so a run can be repeated), not synchronisation.
import type { Broker } from '../test/kafka/broker.js';
import type { AemonProcess } from './aemon.js';
import type { FaultEvent } from './recovery.js';

export interface FaultControl {
  broker: Broker;
  /** Instances currently in the group (the injector replaces or adds to them). */
  instances: AemonProcess[];
  /** Starts one more instance of the scenario's aemon (same group, same outputs). */
  startInstance(): AemonProcess;
  events: FaultEvent[];
  restarts: number;
  /**
   * Resolves once the group is Stable with `members` members (a dead member is only evicted after
   * the session timeout), or after a minute; a fault counts as over only then.
   */
  settled(members: number): Promise<void>;
  random(): number;
  log(line: string): void;
}

export type FaultInjector = (ctl: FaultControl, until: number) => Promise<void>;

/** A seeded uniform generator (mulberry32): the same seed, the same fault schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Waits a random time in [minS, maxS] seconds; false when that would end past `until`. */
async function nextFault(ctl: FaultControl, until: number, minS: number, maxS: number): Promise<boolean> {
  const ms = (minS + ctl.random() * (maxS - minS)) * 1000;
  if (Date.now() + ms >= until) return false;
  await wait(ms);
  return true;
}

async function replace(ctl: FaultControl, index: number): Promise<void> {
  const next = ctl.startInstance();
  ctl.instances[index] = next;
  // Back once it serves /metrics; a start that fails shows as a missing recovery, not a crash here.
  await next.url.catch((err: unknown) => ctl.log(`restart failed: ${(err as Error).message}`));
}

/** No fault: the control, which shows that a live run and the fault-free run of its topic agree. */
export const noFault: FaultInjector = () => Promise.resolve();

/** SIGKILLs the broker and starts it again (same ports, same log dirs) every `minS`–`maxS` seconds. */
export function brokerKills(minS: number, maxS: number): FaultInjector {
  return async (ctl, until) => {
    while (await nextFault(ctl, until, minS, maxS)) {
      const at = Date.now();
      ctl.broker.signal('SIGKILL');
      ctl.log('broker SIGKILL');
      await ctl.broker.restart();
      ctl.restarts++;
      ctl.events.push({ what: 'broker', at, until: Date.now() });
      ctl.log(`broker back after ${((Date.now() - at) / 1000).toFixed(1)} s`);
    }
  };
}

/** SIGKILLs the (first) aemon instance and starts a new one every `minS`–`maxS` seconds. */
export function aemonKills(minS: number, maxS: number): FaultInjector {
  return async (ctl, until) => {
    while (await nextFault(ctl, until, minS, maxS)) {
      const victim = ctl.instances[0];
      if (!victim) return;
      const at = Date.now();
      victim.signal('SIGKILL');
      await victim.exited;
      ctl.log(`${victim.name} SIGKILL`);
      await replace(ctl, 0);
      await ctl.settled(ctl.instances.length);
      ctl.restarts++;
      ctl.events.push({ what: 'aemon', at, until: Date.now() });
    }
  };
}

/**
 * Group churn: every `everyS` seconds, with `size` instances running one of them (at random) is
 * SIGKILLed, with fewer one is started.
 */
export function groupChurn(size: number, everyS: number): FaultInjector {
  return async (ctl, until) => {
    while (await nextFault(ctl, until, everyS, everyS)) {
      const at = Date.now();
      const running = ctl.instances.filter((p) => p.alive());
      if (running.length >= size) {
        const victim = running[Math.floor(ctl.random() * running.length)]!;
        victim.signal('SIGKILL');
        await victim.exited;
        ctl.instances.splice(ctl.instances.indexOf(victim), 1);
        ctl.log(`${victim.name} SIGKILL (${running.length - 1} left)`);
        await ctl.settled(running.length - 1);
        ctl.events.push({ what: 'member killed', at, until: Date.now() });
      } else {
        ctl.instances.push(ctl.startInstance());
        await ctl.instances[ctl.instances.length - 1]!.url.catch(() => {});
        await ctl.settled(running.length + 1);
        ctl.log(`member started (${running.length + 1} running)`);
        ctl.events.push({ what: 'member started', at, until: Date.now() });
      }
      ctl.restarts++;
    }
  };
}

/**
 * An event-loop stall longer than the session timeout: the first instance is frozen with SIGSTOP
 * (as a long GC pause, a busy loop or a starved VM freezes it: nothing runs, sockets stay open)
 * a third of the way in, for `stallMs`, then thawed with SIGCONT. The group gives its partitions
 * to the others meanwhile; thawed, it finds itself fenced out and rejoins.
 */
export function stall(stallMs: number): FaultInjector {
  return async (ctl, until) => {
    const start = Date.now() + (until - Date.now()) / 3;
    if (start + stallMs >= until) return;
    await wait(start - Date.now());
    const victim = ctl.instances[0];
    if (!victim) return;
    const at = Date.now();
    victim.signal('SIGSTOP');
    ctl.log(`${victim.name} SIGSTOP for ${stallMs / 1000} s`);
    await wait(stallMs);
    victim.signal('SIGCONT');
    ctl.log(`${victim.name} SIGCONT`);
    await ctl.settled(ctl.instances.length);
    ctl.restarts++;
    ctl.events.push({ what: 'stall', at, until: Date.now() });
  };
}
