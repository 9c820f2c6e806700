// Kubernetes label selectors (metav1.LabelSelector) against a pod's labels:
// matchLabels and matchExpressions ANDed; an empty selector selects
// everything. NotIn and DoesNotExist also match where the key is absent, as
// in apimachinery's labels.Selector.

export interface SelectorRequirement {
  key: string;
  operator: string;
  values?: string[] | undefined;
}

export interface LabelSelector {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?: SelectorRequirement[] | undefined;
}

function requirementMatches(r: SelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && values.includes(labels[r.key] as string);
    case 'NotIn':
      return !has || !values.includes(labels[r.key] as string);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return false; // the API server rejects other operators; select nothing rather than everything
  }
}

export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  return (selector.matchExpressions ?? []).every((r) => requirementMatches(r, labels));
}
