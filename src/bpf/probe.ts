// Loading one probe: pick the first hook plan the kernel supports (in the
// probe's order of preference, narrowed by --attach), load only that plan's
// programs, attach them, and fall back to the next plan if the kernel
// refuses. Which plan won is the probe's `hook`, exported as
// kubepulse_probe_info{probe,hook}.

import { join } from 'node:path';
import { describeBpfError, UserError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Addon, BpfObjectHandle } from './addon.js';
import type { KernelFeatures } from './kernel.js';

/** --attach: which hook families a probe may use (auto: the best the kernel has). */
export const ATTACH_MODES = ['auto', 'kprobe', 'tracepoint', 'classic'] as const;
export type AttachMode = (typeof ATTACH_MODES)[number];

export interface HookPlan {
  /** Shown in logs and kubepulse_probe_info, e.g. "tp_btf/inet_sock_set_state". */
  hook: string;
  /** Which --attach choice this plan belongs to; "any" plans serve every mode. */
  mode: 'kprobe' | 'tracepoint' | 'any';
  programs: Array<{ name: string; cgroup?: boolean }>;
  /** undefined when usable here, else why not ("needs CONFIG_KPROBES"). */
  unavailable(kernel: KernelFeatures): string | undefined;
}

export interface ProbeSpec {
  name: string;
  objectFile: string;
  plans: HookPlan[];
  /**
   * Bytes of its ring buffer (`events`), when it has one: sized for the
   * records it writes and the rate it must take (ring-size.ts).
   * --ring-buffer-bytes overrides it.
   */
  ringBufferBytes?: number;
  /** Sets constants and map sizes between open and load. */
  configure?(object: BpfObjectHandle): void;
}

export interface LoadedProbe {
  name: string;
  hook: string;
  object: BpfObjectHandle;
  /** Reports through a ring buffer (`events`), rather than only counting in maps. */
  streams: boolean;
}

export interface LoadContext {
  addon: Addon;
  kernel: KernelFeatures;
  attach: AttachMode;
  bpfObjectDir: string;
  /** --ring-buffer-bytes: every probe's ring; undefined = each probe's own. */
  ringBufferBytes: number | undefined;
  log: Logger;
}

/** A probe with a ring and no size of its own (none today): the old default. */
const FALLBACK_RING_BYTES = 1 << 22;

/** The context the daemon and `kubepulse check` load probes in. */
export function loadContext(
  config: { attach: AttachMode; bpfObjectDir: string; ringBufferBytes: number | undefined },
  kernel: KernelFeatures,
  addon: Addon,
  log: Logger,
): LoadContext {
  return { addon, kernel, attach: config.attach, bpfObjectDir: config.bpfObjectDir, ringBufferBytes: config.ringBufferBytes, log };
}

function isPermissionError(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'EPERM';
}

/** Whether --attach lets a plan be tried. "classic" passes over kprobes and the BTF-typed tp_btf hooks. */
export function planAllowed(plan: HookPlan, attach: AttachMode): boolean {
  if (attach === 'auto') return true;
  if (attach === 'classic') return plan.mode !== 'kprobe' && !plan.hook.startsWith('tp_btf/');
  return plan.mode === 'any' || plan.mode === attach;
}

export function loadProbe(spec: ProbeSpec, ctx: LoadContext): LoadedProbe {
  const plans = spec.plans.filter((p) => planAllowed(p, ctx.attach));
  const tried: string[] = [];
  for (const plan of plans) {
    const reason = plan.unavailable(ctx.kernel);
    if (reason) {
      tried.push(`${plan.hook} ${reason}`);
      ctx.log.debug('hook plan unavailable', { probe: spec.name, hook: plan.hook, reason });
      continue;
    }
    const object = new ctx.addon.BpfObject(join(ctx.bpfObjectDir, spec.objectFile));
    try {
      const wanted = new Set(plan.programs.map((p) => p.name));
      for (const p of object.programs()) object.setAutoload(p.name, wanted.has(p.name));
      if (object.maps().some((m) => m.name === 'events')) object.setMapMaxEntries('events', ctx.ringBufferBytes ?? spec.ringBufferBytes ?? FALLBACK_RING_BYTES);
      spec.configure?.(object);
      object.load();
      for (const p of plan.programs) {
        if (p.cgroup && !ctx.kernel.cgroup2) throw new Error('no cgroup v2 mount (needs cgroup2 mounted, e.g. at /sys/fs/cgroup)');
        object.attach(p.name, p.cgroup ? { cgroup: ctx.kernel.cgroup2 } : undefined);
      }
      ctx.log.info('probe attached', { probe: spec.name, hook: plan.hook, programs: object.programIds() });
      return { name: spec.name, hook: plan.hook, object, streams: object.maps().some((m) => m.name === 'events') };
    } catch (err) {
      object.close();
      if (isPermissionError(err)) throw new UserError(`cannot load the ${spec.name} probe: ${describeBpfError(err)}`);
      const detail = describeBpfError(err);
      tried.push(`${plan.hook}: ${detail}`);
      ctx.log.warn('hook plan failed, trying the next', {
        probe: spec.name,
        hook: plan.hook,
        error: detail,
        libbpf: (err as { libbpfLog?: string }).libbpfLog?.slice(-2000),
      });
    }
  }
  const forced = ctx.attach === 'auto' ? '' : ` with --attach=${ctx.attach}`;
  if (tried.length === 0) throw new UserError(`the ${spec.name} probe has no ${ctx.attach} hooks`);
  throw new UserError(`cannot attach the ${spec.name} probe${forced}: ${tried.join('; ')}`);
}
