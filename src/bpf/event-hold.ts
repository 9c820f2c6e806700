// Holding events back: a handler that cannot answer yet (the resolver has
// found a new container's pod UID, but the pod watch has not delivered the
// pod) throws EventHold, and the event stream keeps that record and every
// one after it, in order, and hands them to the handlers again a little
// later. Order matters: a DNS response must follow its query.
//
// The contract for a handler: it may throw EventHold only before it has
// changed anything (it is called again with the same record), which is why
// collectors resolve the pod first and count afterwards.
//
// Holding is only possible inside EventStream.dispatch, which turns it on
// for the duration; everywhere else (scrape-time readers of kernel maps,
// tests, the bench) holdable() is false and the resolver answers at once.

/** Thrown by a handler (through the resolver) to ask for its record to be held. */
export class EventHold {
  constructor(readonly reason: string) {}
}

let holding = false;

/** Whether the current caller is an event handler inside a dispatch that may hold. */
export function holdable(): boolean {
  return holding;
}

/** Runs fn with holding allowed (or not); restores the previous state. */
export function withHolding<T>(allowed: boolean, fn: () => T): T {
  const before = holding;
  holding = allowed;
  try {
    return fn();
  } finally {
    holding = before;
  }
}
