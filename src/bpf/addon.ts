// The typed face of the native addon (native/*.cc). Everything that talks
// to libbpf goes through this interface, so tests can hand in another.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';

export interface ProgramInfo {
  name: string;
  section: string;
  autoload: boolean;
}

export interface MapInfo {
  name: string;
  type: number;
  maxEntries: number;
  keySize: number;
  valueSize: number;
}

export interface BpfObjectHandle {
  programs(): ProgramInfo[];
  maps(): MapInfo[];
  setAutoload(program: string, load: boolean): void;
  setMapMaxEntries(map: string, entries: number): void;
  setConst(name: string, value: Buffer): void;
  load(): void;
  attach(program: string, options?: { cgroup?: string }): void;
  /** Detaches what was attached to this cgroup path; the rest stays. */
  detachCgroup(path: string): void;
  /** Per-CPU maps return one 8-byte-aligned slot per possible CPU. */
  mapLookup(map: string, key: Buffer): Buffer | null;
  mapUpdate(map: string, key: Buffer, value: Buffer): void;
  mapDelete(map: string, key: Buffer): void;
  /** Every entry at once, packed: [count, keys, values], entry i at i × its size. */
  mapDump(map: string): [count: number, keys: Buffer, values: Buffer];
  /** Every entry as [key, value]: views of one mapDump (defined here in JavaScript, below). */
  mapEntries(map: string): Array<[Buffer, Buffer]>;
  programIds(): Record<string, number>;
  /** A ring buffer map's unconsumed bytes and its size. */
  ringUsage(map: string): { used: number; size: number };
  /** Detaches every program; they stay loaded and can be attached again. */
  detachAll(): void;
  close(): void;
}

export interface EventPollerHandle {
  start(): void;
  stop(): void;
  /** Tests only: makes the poll thread's next wait fail for real (see native/event_poller.cc). */
  breakPollFdForTest(): void;
}

/**
 * Called on the JS thread with each batch; once with (null, error) if the
 * poll thread fails, after which it has ended and nothing more arrives.
 */
export type OnBatch = (batch: Buffer | null, error?: Error) => void;

export interface EventPollerOptions {
  batchBytes?: number;
  pollTimeoutMs?: number;
  flushIntervalMs?: number;
  maxQueuedBatches?: number;
}

export interface StructLayout {
  size: number;
  type: number;
  offsets: Record<string, number>;
}

export interface Addon {
  BpfObject: new (path: string) => BpfObjectHandle;
  EventPoller: new (
    sources: Array<[BpfObjectHandle, string]>,
    onBatch: OnBatch,
    options?: EventPollerOptions,
  ) => EventPollerHandle;
  libbpfVersion(): string;
  numPossibleCpus(): number;
  probeMapType(name: 'ringbuf' | 'sk_storage' | 'lru_hash' | 'percpu_array'): boolean;
  probeProgType(name: 'kprobe' | 'tracepoint' | 'tracing' | 'cgroup_skb' | 'cgroup_sock_addr' | 'raw_tracepoint'): boolean;
  layouts(): Record<string, StructLayout>;
  /** Gives the C library's free pages back to the system (glibc's malloc_trim, on libuv's pool); true if any were. */
  trimNativeMemory(): Promise<boolean>;
}

/** The checkout (or image) root: two levels above dist/src/bpf or src/bpf. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the kubepulse package root');
    dir = up;
  }
  return dir;
}

let cached: Addon | undefined;

export function loadAddon(): Addon {
  if (cached) return cached;
  const path = join(packageRoot(), 'build', 'Release', 'kubepulse.node');
  if (!existsSync(path))
    throw new UserError(`the native addon is not built (${path} is missing): run \`make build\``);
  cached = createRequire(import.meta.url)(path) as Addon;
  defineMapEntries(cached.BpfObject.prototype);
  return cached;
}

/**
 * mapEntries over the native mapDump: slicing the two packed Buffers here
 * costs a fraction of making two Buffers per entry through N-API.
 */
function defineMapEntries(proto: BpfObjectHandle): void {
  proto.mapEntries = function mapEntries(this: BpfObjectHandle, map: string): Array<[Buffer, Buffer]> {
    const [count, keys, values] = this.mapDump(map);
    const out = new Array<[Buffer, Buffer]>(count);
    if (count === 0) return out;
    const keySize = keys.length / count;
    const valueSize = values.length / count;
    for (let i = 0; i < count; i++) {
      out[i] = [keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * valueSize, (i + 1) * valueSize)];
    }
    return out;
  };
}
