// Gives the C library's freed memory back to the system, once a minute.
//
// glibc keeps what threads other than the main one free (V8's concurrent GC
// helpers, the poll thread, libuv's pool) in per-thread arenas and returns
// it to the system only from the top of each arena. In the 30-minute soak
// 20-30 MiB of the daemon's ~215 MiB RSS sat free in those arenas
// (malloc_trim, called from gdb, released it at once), and one large V8
// collection left RSS 35 MiB higher for the rest of the run: the soak's RSS
// slope failed on that step alone. malloc_trim(0) hands the free pages of
// every arena back (madvise), on libuv's pool, not the JavaScript thread.

import type { Addon } from './bpf/addon.js';
import type { Logger } from './log.js';

export const TRIM_EVERY_MS = 60_000;

export class NativeMemoryTrim {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly addon: Pick<Addon, 'trimNativeMemory'>,
    private readonly log: Logger,
    private readonly everyMs = TRIM_EVERY_MS,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.trimNow(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One trim now (none while one runs); whether the C library released anything. */
  async trimNow(): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    const start = performance.now();
    try {
      const released = await this.addon.trimNativeMemory();
      this.log.debug('native memory trimmed', { released, ms: Math.round((performance.now() - start) * 100) / 100 });
      return released;
    } catch (err) {
      this.log.warn('cannot trim native memory', { error: (err as Error).message });
      return false;
    } finally {
      this.running = false;
    }
  }
}
