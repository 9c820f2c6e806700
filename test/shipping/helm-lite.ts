// A small renderer for the subset of Helm's Go templates that
// charts/kubepulse uses, so tests can render the chart without helm.
// It is not Helm: anything outside the subset throws, which keeps the chart
// inside what this file understands. The real thing is
//   helm template kubepulse charts/kubepulse --namespace kubepulse
//
// Supported: text with {{ }} actions and {{- -}} trimming, comments,
// if / else if / else / with / range (lists and maps, $k, $v :=) / define /
// end, $ and $var := ..., .Field chains, "strings", numbers, true/false/nil,
// parenthesised pipelines, pipes, and the functions in `funcs` below.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'

type Value = unknown
type Fn = (...args: Value[]) => Value

// ---------------------------------------------------------------- lexing

type Token =
  | { kind: 'string' | 'field' | 'var' | 'ident' | 'number'; text: string }
  | { kind: '(' | ')' | '|' | ':=' | '=' | ',' }

function tokenize(src: string, where: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < src.length) {
    const rest = src.slice(i)
    let m: RegExpExecArray | null
    if (/^\s/.test(rest)) i++
    else if ((m = /^"(?:[^"\\]|\\.)*"/.exec(rest))) {
      tokens.push({ kind: 'string', text: JSON.parse(m[0]) as string })
      i += m[0].length
    } else if ((m = /^`[^`]*`/.exec(rest))) {
      tokens.push({ kind: 'string', text: m[0].slice(1, -1) })
      i += m[0].length
    } else if ((m = /^:=|^[()|=,]/.exec(rest))) {
      tokens.push({ kind: m[0] as ':=' })
      i += m[0].length
    } else if ((m = /^-?\d+(?:\.\d+)?/.exec(rest))) {
      tokens.push({ kind: 'number', text: m[0] })
      i += m[0].length
    } else if ((m = /^\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/.exec(rest))) {
      tokens.push({ kind: 'var', text: m[0] })
      i += m[0].length
    } else if ((m = /^(?:\.[A-Za-z0-9_]+)+|^\./.exec(rest))) {
      tokens.push({ kind: 'field', text: m[0] })
      i += m[0].length
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      tokens.push({ kind: 'ident', text: m[0] })
      i += m[0].length
    } else throw new Error(`${where}: cannot read ${JSON.stringify(rest.slice(0, 20))}`)
  }
  return tokens
}

// ---------------------------------------------------------------- parsing

type Operand =
  | { kind: 'literal'; value: Value }
  | { kind: 'field'; path: string[] } // relative to dot
  | { kind: 'var'; name: string; path: string[] }
  | { kind: 'ident'; name: string }
  | { kind: 'pipeline'; pipeline: Pipeline }

interface Pipeline {
  decl?: { names: string[]; assign: boolean }
  commands: Operand[][]
}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline }
  | { kind: 'if' | 'with'; pipeline: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; else: Node[] }

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let pos = 0
  const pipeline: Pipeline = { commands: [] }
  // `$a := x` or `$k, $v := x`
  const declEnd = tokens.findIndex(t => t.kind === ':=' || t.kind === '=')
  if (declEnd > 0 && tokens.slice(0, declEnd).every(t => t.kind === 'var' || t.kind === ',')) {
    pipeline.decl = {
      names: tokens.slice(0, declEnd).flatMap(t => (t.kind === 'var' ? [t.text] : [])),
      assign: tokens[declEnd]!.kind === '=',
    }
    pos = declEnd + 1
  }
  const operand = (): Operand => {
    const tok = tokens[pos++]
    if (!tok) throw new Error(`${where}: pipeline ends early`)
    switch (tok.kind) {
      case 'string':
        return { kind: 'literal', value: tok.text }
      case 'number':
        return { kind: 'literal', value: Number(tok.text) }
      case 'field':
        return { kind: 'field', path: tok.text === '.' ? [] : tok.text.slice(1).split('.') }
      case 'var': {
        const [name, ...path] = tok.text.split('.')
        return { kind: 'var', name: name!, path }
      }
      case 'ident':
        if (tok.text === 'true' || tok.text === 'false') return { kind: 'literal', value: tok.text === 'true' }
        if (tok.text === 'nil') return { kind: 'literal', value: undefined }
        return { kind: 'ident', name: tok.text }
      case '(': {
        let depth = 1
        const start = pos
        while (depth > 0) {
          const t = tokens[pos++]
          if (!t) throw new Error(`${where}: unbalanced (`)
          if (t.kind === '(') depth++
          if (t.kind === ')') depth--
        }
        return { kind: 'pipeline', pipeline: parsePipeline(tokens.slice(start, pos - 1), where) }
      }
      default:
        throw new Error(`${where}: unexpected ${tok.kind}`)
    }
  }
  let command: Operand[] = []
  while (pos < tokens.length) {
    if (tokens[pos]!.kind === '|') {
      pos++
      pipeline.commands.push(command)
      command = []
    } else command.push(operand())
  }
  pipeline.commands.push(command)
  if (pipeline.commands.some(c => c.length === 0)) throw new Error(`${where}: empty command in pipeline`)
  return pipeline
}

interface Parsed {
  nodes: Node[]
  defines: Map<string, Node[]>
}

function parseTemplate(src: string, name: string): Parsed {
  // Split into text and actions, applying {{- and -}} trimming.
  const parts: ({ text: string } | { action: string })[] = []
  const re = /\{\{(-\s)?([\s\S]*?)(\s-)?\}\}/g
  let last = 0
  let trimNext = false
  for (const m of src.matchAll(re)) {
    let text = src.slice(last, m.index)
    if (trimNext) text = text.replace(/^\s+/, '')
    if (m[1]) text = text.replace(/\s+$/, '')
    parts.push({ text })
    parts.push({ action: m[2]!.trim() })
    trimNext = Boolean(m[3])
    last = (m.index ?? 0) + m[0].length
  }
  parts.push({ text: trimNext ? src.slice(last).replace(/^\s+/, '') : src.slice(last) })

  const defines = new Map<string, Node[]>()
  let i = 0
  // Parses nodes until one of the stop keywords; returns which one stopped it.
  const parseList = (stops: string[]): { nodes: Node[]; stop: string; rest: string } => {
    const nodes: Node[] = []
    while (i < parts.length) {
      const part = parts[i++]!
      if ('text' in part) {
        if (part.text) nodes.push({ kind: 'text', text: part.text })
        continue
      }
      const action = part.action
      const where = `${name}: {{ ${action} }}`
      if (action.startsWith('/*')) continue
      const [keyword = '', ...restWords] = action.split(/\s+/)
      const rest = action.slice(keyword.length).trim()
      if (stops.includes(keyword)) return { nodes, stop: keyword, rest }
      if (keyword === 'if' || keyword === 'with') {
        nodes.push(parseConditional(keyword, rest, where))
      } else if (keyword === 'range') {
        const body = parseList(['else', 'end'])
        const elseNodes = body.stop === 'else' ? parseList(['end']).nodes : []
        nodes.push({ kind: 'range', pipeline: parsePipeline(tokenize(rest, where), where), body: body.nodes, else: elseNodes })
      } else if (keyword === 'define') {
        const defName = tokenize(rest, where)[0]
        if (defName?.kind !== 'string') throw new Error(`${where}: define needs a name`)
        defines.set(defName.text, parseList(['end']).nodes)
      } else if (['end', 'else', 'template', 'block', 'break', 'continue'].includes(keyword)) {
        throw new Error(`${where}: unexpected or unsupported ${keyword}`)
      } else {
        void restWords
        nodes.push({ kind: 'action', pipeline: parsePipeline(tokenize(action, where), where) })
      }
    }
    if (stops.length > 0) throw new Error(`${name}: missing {{ end }}`)
    return { nodes, stop: '', rest: '' }
  }
  const parseConditional = (kind: 'if' | 'with', cond: string, where: string): Node => {
    const then = parseList(['else', 'end'])
    let elseNodes: Node[] = []
    if (then.stop === 'else') {
      const m = /^(if|with)\s+([\s\S]*)$/.exec(then.rest)
      if (m) elseNodes = [parseConditional(m[1] as 'if' | 'with', m[2]!, where)] // `else if` shares the end
      else elseNodes = parseList(['end']).nodes
    }
    return { kind, pipeline: parsePipeline(tokenize(cond, where), where), then: then.nodes, else: elseNodes }
  }
  const { nodes } = parseList([])
  return { nodes, defines }
}

// ---------------------------------------------------------------- evaluation

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}

function printValue(v: Value): string {
  if (v === undefined || v === null) return '' // Helm prints missing values as ''
  if (typeof v === 'object') throw new Error(`cannot print a ${Array.isArray(v) ? 'list' : 'map'} directly; use toYaml`)
  return String(v)
}

function goQuote(s: string): string {
  return JSON.stringify(s)
}

function printf(format: string, ...args: Value[]): string {
  let n = 0
  return format.replace(/%[sdv%]/g, spec => (spec === '%%' ? '%' : printValue(args[n++])))
}

class Renderer {
  readonly funcs: Record<string, Fn>

  constructor(private readonly defines: Map<string, Node[]>) {
    this.funcs = {
      include: (name, ctx) => this.renderNodes(this.lookupDefine(String(name)), ctx, new Map([['$', ctx]])),
      toYaml: v => (v === undefined ? '' : stringifyYaml(v, { lineWidth: 0 }).replace(/\n$/, '')),
      nindent: (n, s) => `\n${indent(Number(n), String(s))}`,
      indent: (n, s) => indent(Number(n), String(s)),
      quote: (...vs) => vs.map(v => goQuote(printValue(v))).join(' '),
      default: (def, v) => (truthy(v) ? v : def),
      printf: (f, ...args) => printf(String(f), ...args),
      trunc: (n, s) => String(s).slice(0, Number(n)),
      trimSuffix: (suffix, s) => (String(s).endsWith(String(suffix)) ? String(s).slice(0, -String(suffix).length) : String(s)),
      replace: (from, to, s) => String(s).split(String(from)).join(String(to)),
      join: (sep, list) => (Array.isArray(list) ? list.map(printValue).join(String(sep)) : printValue(list)),
      contains: (sub, s) => String(s).includes(String(sub)),
      eq: (a, b) => a === b,
      ne: (a, b) => a !== b,
      not: v => !truthy(v),
      and: (...vs) => vs.reduce((acc, v) => (truthy(acc) ? v : acc)),
      or: (...vs) => vs.reduce((acc, v) => (truthy(acc) ? acc : v)),
      toString: (v: Value) => printValue(v),
      required: (msg, v) => {
        if (!truthy(v)) throw new Error(`required: ${String(msg)}`)
        return v
      },
    }
  }

  lookupDefine(name: string): Node[] {
    const nodes = this.defines.get(name)
    if (!nodes) throw new Error(`include of undefined template ${JSON.stringify(name)}`)
    return nodes
  }

  renderNodes(nodes: Node[], dot: Value, vars: Map<string, Value>): string {
    let out = ''
    const scope = new Map(vars)
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out += node.text
          break
        case 'action': {
          const v = this.evalPipeline(node.pipeline, dot, scope)
          if (!node.pipeline.decl) out += printValue(v)
          break
        }
        case 'if':
        case 'with': {
          const v = this.evalPipeline(node.pipeline, dot, scope)
          if (truthy(v)) out += this.renderNodes(node.then, node.kind === 'with' ? v : dot, scope)
          else out += this.renderNodes(node.else, dot, scope)
          break
        }
        case 'range': {
          const v = this.evalPipeline({ commands: node.pipeline.commands }, dot, scope)
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v).sort().map(k => [k, (v as Record<string, Value>)[k]])
              : []
          if (entries.length === 0) out += this.renderNodes(node.else, dot, scope)
          for (const [k, x] of entries) {
            const inner = new Map(scope)
            const names = node.pipeline.decl?.names ?? []
            if (names.length === 1) inner.set(names[0]!, x)
            if (names.length === 2) {
              inner.set(names[0]!, k)
              inner.set(names[1]!, x)
            }
            out += this.renderNodes(node.body, x, inner)
          }
          break
        }
      }
    }
    return out
  }

  evalPipeline(p: Pipeline, dot: Value, vars: Map<string, Value>): Value {
    let piped: Value
    let first = true
    for (const command of p.commands) {
      piped = this.evalCommand(command, dot, vars, first ? [] : [piped])
      first = false
    }
    if (p.decl) vars.set(p.decl.names[0]!, piped)
    return piped
  }

  evalCommand(command: Operand[], dot: Value, vars: Map<string, Value>, piped: Value[]): Value {
    const [head, ...rest] = command
    const args = () => [...rest.map(o => this.evalOperand(o, dot, vars)), ...piped]
    if (head?.kind === 'ident') {
      const fn = this.funcs[head.name]
      if (!fn) throw new Error(`function ${head.name} is not supported by helm-lite`)
      return fn(...args())
    }
    const v = this.evalOperand(head!, dot, vars)
    if (typeof v === 'function') return (v as Fn)(...args())
    if (rest.length > 0 || piped.length > 0) throw new Error('arguments given to a non-function')
    return v
  }

  evalOperand(o: Operand, dot: Value, vars: Map<string, Value>): Value {
    switch (o.kind) {
      case 'literal':
        return o.value
      case 'field':
        return walk(dot, o.path)
      case 'var': {
        if (!vars.has(o.name)) throw new Error(`undefined variable ${o.name}`)
        return walk(vars.get(o.name), o.path)
      }
      case 'pipeline':
        return this.evalPipeline(o.pipeline, dot, new Map(vars))
      case 'ident': {
        const fn = this.funcs[o.name]
        if (!fn) throw new Error(`function ${o.name} is not supported by helm-lite`)
        return fn()
      }
    }
  }
}

function walk(v: Value, path: string[]): Value {
  let cur = v
  for (const key of path) {
    if (cur === undefined || cur === null) return undefined
    if (typeof cur !== 'object') throw new Error(`cannot read .${key} of a ${typeof cur}`)
    const next = (cur as Record<string, Value>)[key]
    cur = typeof next === 'function' ? (next as Fn).bind(cur) : next
  }
  return cur
}

function indent(n: number, s: string): string {
  const pad = ' '.repeat(n)
  return s
    .split('\n')
    .map(line => pad + line)
    .join('\n')
}

// ---------------------------------------------------------------- charts

export interface RenderOptions {
  releaseName?: string
  namespace?: string
  /** Deep-merged over values.yaml, like `helm --set`/`-f` (lists are replaced). */
  values?: Record<string, unknown>
}

export function deepMerge(base: Value, over: Value): Value {
  if (over === undefined) return base
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, Value> = { ...(base as Record<string, Value>) }
    for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v)
    return out
  }
  return over
}

/** Renders every template of a chart: file name → text (partials and NOTES.txt skipped). */
export function renderChart(chartDir: string, opts: RenderOptions = {}): Map<string, string> {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, string>
  const defaults = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>
  const templatesDir = join(chartDir, 'templates')
  const files = readdirSync(templatesDir).sort()
  const defines = new Map<string, Node[]>()
  const parsed = new Map<string, Node[]>()
  for (const file of files) {
    const { nodes, defines: d } = parseTemplate(readFileSync(join(templatesDir, file), 'utf8'), file)
    for (const [k, v] of d) defines.set(k, v)
    if (!file.startsWith('_') && file.endsWith('.yaml')) parsed.set(file, nodes)
  }
  const root = {
    Values: deepMerge(defaults, opts.values ?? {}),
    Release: { Name: opts.releaseName ?? 'kubepulse', Namespace: opts.namespace ?? 'kubepulse', Service: 'Helm', IsInstall: true, IsUpgrade: false },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Files: { Get: (path: Value) => readFileSync(join(chartDir, String(path)), 'utf8') },
  }
  const renderer = new Renderer(defines)
  const out = new Map<string, string>()
  for (const [file, nodes] of parsed) {
    try {
      out.set(file, renderer.renderNodes(nodes, root, new Map<string, Value>([['$', root]])))
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`)
    }
  }
  return out
}
