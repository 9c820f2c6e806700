// Reading dashboards/kubepulse.json: its panels' PromQL with Grafana's
// variables replaced, ready to send to a Prometheus. The end-to-end test uses
// this to check that every panel returns data from the real daemon.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './k8s.js'

export const dashboardFile = join(repoRoot, 'dashboards', 'kubepulse.json')

export interface Datasource { type?: string; uid?: string }
export interface Target { expr?: string; refId?: string; datasource?: Datasource; legendFormat?: string }
export interface Panel {
  id: number
  type: string
  title: string
  datasource?: Datasource
  targets?: Target[]
  gridPos?: { x: number; y: number; w: number; h: number }
  panels?: Panel[]
}
export interface TemplateVar { name: string; type: string; query?: string | { query: string }; datasource?: Datasource; allValue?: string }
export interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: TemplateVar[] } }

export function loadDashboard(file = dashboardFile): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard
}

/** Panels, including those nested in collapsed rows, without the rows. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap(p => (p.type === 'row' ? (p.panels ?? []) : [p]))
}

/**
 * Grafana's variables replaced: dashboard variables by their "All" value
 * (or `values`), $__rate_interval and friends by a duration that suits a
 * 1 s scrape interval. Throws if a `$` is left over.
 */
export function substitute(expr: string, values: Record<string, string> = {}, interval = '30s'): string {
  const out = expr
    .replace(/\$__rate_interval|\$__interval|\$__range/g, interval)
    .replace(/\$\{?(\w+)\}?/g, (_, name: string) => values[name] ?? '.*')
  if (out.includes('$')) throw new Error(`unreplaced variable in ${expr}`)
  return out
}

export interface PanelQuery { panel: string; refId: string; expr: string }

/** Every panel target's expression, ready for /api/v1/query. */
export function dashboardQueries(d = loadDashboard(), values: Record<string, string> = {}, interval = '30s'): PanelQuery[] {
  return allPanels(d).flatMap(p =>
    (p.targets ?? []).map(t => ({ panel: p.title, refId: t.refId ?? '', expr: substitute(t.expr ?? '', values, interval) })),
  )
}

/** The row whose panels only findings fill: proven by audit-dashboard.test.ts, which makes violations and drift. */
export const AUDIT_ROW = 'Posture audit and drift'

/** The panels of a row (open or collapsed). */
export function rowPanels(d: Dashboard, title: string): Panel[] {
  const at = d.panels.findIndex(p => p.type === 'row' && p.title === title)
  if (at < 0) return []
  const row = d.panels[at]!
  if ((row.panels ?? []).length > 0) return row.panels!
  const next = d.panels.findIndex((p, i) => i > at && p.type === 'row')
  return d.panels.slice(at + 1, next < 0 ? undefined : next)
}

/**
 * The expressions traffic fills: every panel but the audit row's (a healthy
 * test cluster has no violations or drift to show there).
 */
export function trafficQueries(values: Record<string, string> = {}, interval = '30s', d = loadDashboard()): PanelQuery[] {
  const audit = new Set(rowPanels(d, AUDIT_ROW).map(p => p.title))
  return dashboardQueries(d, values, interval).filter(q => !audit.has(q.panel))
}

/** The series selector of a `label_values(selector, label)` variable query. */
export function variableSelector(v: TemplateVar): { selector: string; label: string } | undefined {
  const q = typeof v.query === 'string' ? v.query : v.query?.query
  const m = /^label_values\((.*),\s*(\w+)\)$/s.exec(q ?? '')
  return m ? { selector: substitute(m[1]!), label: m[2]! } : undefined
}
