// The labels that select a workload's pods and nothing else: what all of its
// observed pods share, minus what controllers stamp on single pods or single
// revisions (a selector built from those would stop matching after the next
// rollout, or match only one replica).
import type { Labels } from './types.js';

/** Label keys that differ per pod, per revision or per run. */
export const VOLATILE_LABEL_KEYS: ReadonlySet<string> = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'job-name',
  'controller-uid',
]);

/** Label key prefixes whose every key is per job run or per pod. */
const VOLATILE_LABEL_PREFIXES = ['batch.kubernetes.io/'];

export function isVolatileLabel(key: string): boolean {
  return VOLATILE_LABEL_KEYS.has(key) || VOLATILE_LABEL_PREFIXES.some((p) => key.startsWith(p));
}

export function sortLabels(labels: Labels): Labels {
  const out: Labels = {};
  for (const k of Object.keys(labels).sort(compareStrings)) out[k] = labels[k] as string;
  return out;
}

/** Locale-independent string order, so output never depends on the machine. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface PodLabelSample {
  pod?: string;
  labels: Labels;
}

/**
 * Intersects the pods' labels, drops volatile keys and any label whose value
 * is the pod's own name. Returns sorted labels (possibly empty: the caller
 * must refuse to build a selector from nothing, which would select every pod
 * in the namespace).
 */
export function stableLabels(samples: readonly PodLabelSample[]): Labels {
  if (samples.length === 0) return {};
  const podNames = new Set(samples.map((s) => s.pod).filter((p): p is string => p !== undefined));
  const first = samples[0] as PodLabelSample;
  const out: Labels = {};
  for (const [key, value] of Object.entries(first.labels)) {
    if (isVolatileLabel(key) || podNames.has(value)) continue;
    if (samples.every((s) => s.labels[key] === value)) out[key] = value;
  }
  return sortLabels(out);
}

export function labelsKey(labels: Labels): string {
  return Object.keys(labels)
    .sort(compareStrings)
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}
