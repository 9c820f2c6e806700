// A Kubernetes LabelSelector against a label set, as the API server and
// every NetworkPolicy implementation read it: matchLabels and
// matchExpressions are ANDed; an empty selector ({}) matches everything;
// In/NotIn/Exists/DoesNotExist, where NotIn also matches a set without
// the key (apimachinery's labels.Requirement semantics).

import type { V1LabelSelector } from '@kubernetes/client-node';

export type Labels = Readonly<Record<string, string>>;

export function selectorMatches(selector: V1LabelSelector | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        // The API server rejects any other operator; a selector we cannot
        // read selects nothing rather than everything.
        return false;
    }
  }
  return true;
}
