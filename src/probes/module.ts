// What a probe is to the daemon: one module per probe (src/probes/<x>/index.ts),
// listed in src/probes/index.ts. The daemon loops over the modules; it knows
// no probe by name.
//
// A module names the kernel objects it reads (their ProbeSpec, with the
// object's own name). The daemon loads and attaches each object once, even
// when several modules name it, and hands it to every module that named it
// (`attached`): one BPF object can feed several collectors.

import type { Registry } from 'prom-client';
import type { EventHandler } from '../bpf/event-stream.js';
import type { LoadedProbe, ProbeSpec } from '../bpf/probe.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { PodIndex } from '../metadata/pod-index.js';
import type { Resolver } from '../metadata/resolver.js';
import type { PeerResolver } from '../peers/resolver.js';
import type { EventHub } from '../stream/hub.js';
import type { ProbeName } from './names.js';
import type { PodRoots } from './pod-roots.js';
import type { UnattributedEvents } from '../metrics/unattributed.js';
import type { DriftContext } from '../drift/context.js';

/** What every module's collectors are built from; shared by all modules. */
export interface ProbeContext {
  config: Config;
  /** The daemon's private registry: collectors register their metrics here. */
  registry: Registry;
  /** Process / cgroup → pod identity, per event. */
  resolver: Resolver;
  /** This node's pods by UID (workload kind, labels). */
  pods: PodIndex;
  /** Who is at the other end of a flow. */
  peers: PeerResolver;
  /** The kubepods cgroups, kept current in every object handed to it. */
  podRoots: PodRoots;
  /** Counts events a collector could not attribute to a pod (kubepulse_unattributed_events_total). */
  unattributed: UnattributedEvents;
  numCpus: number;
  log: Logger;
  /** The live event stream: collectors publish into it while it wants events. */
  stream: EventHub;
  /** Drift (NetworkPolicy, seccomp): where trackers find policies and register for /api/v1/drift. */
  drift?: DriftContext | undefined;
  /** Kernel events wait in the event stream behind a record held for a pod: read, not yet handled. */
  eventsHeld?: () => boolean;
}

/** A pod this node no longer runs. */
export interface GonePod {
  uid: string;
  namespace: string;
  name: string;
}

/** A module's running collectors, as the daemon drives them. */
export interface ProbeCollectors {
  /** Ring-buffer event type → its handler (records from any attached object's `events`). */
  events?: ReadonlyMap<number, EventHandler>;
  /** A kernel object this module named is loaded and attached (once per object). */
  attached?(object: LoadedProbe): void;
  /** HTTP GET routes answered with JSON, e.g. '/api/v1/flows'. */
  routes?: Readonly<Record<string, () => unknown>>;
  /** HTTP POST routes that change something; a UserError thrown is a 400 with its message. */
  postRoutes?: Readonly<Record<string, (url: URL) => unknown>>;
  /** The pod was deleted: drop the kernel state kept for it, now. */
  podDeleted?(pod: GonePod): void;
  /**
   * --series-grace after the deletion, just before the daemon removes every
   * series labelled with the pod: drop cached cells of it.
   */
  forgetPodSeries?(namespace: string, pod: string): void;
  /** Timers and watches end; kernel objects are closed by the daemon. */
  stop?(): void;
}

export interface ProbeModule {
  name: ProbeName;
  /** The kernel objects it reads; objects are shared by their `name`. */
  kernelObjects(config: Config): ProbeSpec[];
  create(ctx: ProbeContext): ProbeCollectors;
}
