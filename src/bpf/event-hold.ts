// Holding events back: a handler that cannot answer yet (the resolver has
// found a new container's pod UID, but the pod watch has not delivered the
// pod) throws EventHold, and the event stream keeps that record and every
// later one of its cgroup, in order, and hands them to the handlers again a
// little later (event-stream.ts). Order matters: a DNS response must follow
// its query.
//
// The contract for a handler: it may throw EventHold only before it has
// changed anything (it is called again with the same record), which is why
// collectors resolve the pod first and count afterwards.
//
// Holding is only possible inside EventStream.dispatch, which turns it on
// for the duration; everywhere else (scrape-time readers of kernel maps,
// tests, the bench) holdable() is false and the resolver answers at once.
//
// The stream also says how long the record being handled has already waited
// in user space (waitedMs): a record can queue behind another one's hold, and
// a bound on holding ("at most 1 s per pod") must count that wait, or holds
// of several pods queued one behind the other would add up.

/** Thrown by a handler (through the resolver) to ask for its record to be held. */
export class EventHold {
  constructor(readonly reason: string) {}
}

let holding = false;
let waited = 0;

/** Whether the current caller is an event handler inside a dispatch that may hold. */
export function holdable(): boolean {
  return holding;
}

/** How long (ms) the record being handled has waited since its batch reached user space; 0 outside a dispatch. */
export function waitedMs(): number {
  return waited;
}

/** Runs fn with holding allowed (or not), its records having waited waitedMs; restores the previous state. */
export function withHolding<T>(allowed: boolean, fn: () => T, waitedMs = 0): T {
  const before = holding;
  const waitedBefore = waited;
  holding = allowed;
  waited = waitedMs;
  try {
    return fn();
  } finally {
    holding = before;
    waited = waitedBefore;
  }
}
