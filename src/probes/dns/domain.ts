// The `domain` label of the DNS metrics: a query name reduced to its
// registered domain by the Public Suffix List, so that labels name
// organisations, not hosts. Names the PSL has no answer for are folded to a
// fixed value, never passed through; and DomainLimiter caps how many distinct
// values reach Prometheus at all.
//
// Folding rules, in the order they are tried, on the name lower-cased with
// one trailing dot removed:
//
//   input                                         label
//   ───────────────────────────────────────────   ─────────────────────────
//   "" / more than 253 chars / empty label /      invalid
//     "\" escape from the wire parser / a name
//     psl rejects (chars other than a-z 0-9 - _,
//     a label that starts or ends with "-")
//   "." (the root)                                root
//   localhost, *.localhost                        localhost
//   <cluster domain>, *.<cluster domain>          the cluster domain (default cluster.local)
//   in-addr.arpa, *.in-addr.arpa                  in-addr.arpa
//   ip6.arpa, *.ip6.arpa                          ip6.arpa
//   *.local (mDNS, RFC 6762)                      local
//   a single label that is a public suffix        itself (com, uk, app: bounded by the PSL)
//   any other single label (search-path           single_label
//     leftovers, bare host names)
//   a public suffix with nothing in front         itself (co.uk, s3.amazonaws.com)
//   anything else                                 registered domain per psl:
//                                                   www.api.google.com → google.com
//                                                   a.b.example.co.uk  → example.co.uk
//
// - psl ships the whole list, private section included, so names under a
//   hosting suffix keep one label more (bucket.s3.amazonaws.com,
//   user.github.io). That is the PSL's notion of "who owns this name"; the
//   DomainLimiter bounds the count.
// - A TLD the PSL does not know (.internal, .corp, .lan) falls under its
//   default rule "*": the last two labels (ip-10-0-0-1.ec2.internal →
//   ec2.internal).
// - IDN: the wire carries punycode and it stays punycode
//   (www.xn--bcher-kva.de → xn--bcher-kva.de). A Unicode name handed in
//   directly is converted to punycode first (bücher.de → xn--bcher-kva.de),
//   so every label value is plain ASCII.
// - A registered domain over 128 characters (possible only under wildcard
//   suffixes) is `invalid`.
//
// Every fixed value except the cluster domain and the ones ending in a
// public suffix contains no dot, so none can be mistaken for a real
// registered domain.

import { parse as pslParse } from 'psl';
import { domainToASCII } from 'node:url';
import { LRUCache } from 'lru-cache';

export const DOMAIN_INVALID = 'invalid';
export const DOMAIN_ROOT = 'root';
export const DOMAIN_LOCALHOST = 'localhost';
export const DOMAIN_REVERSE_V4 = 'in-addr.arpa';
export const DOMAIN_REVERSE_V6 = 'ip6.arpa';
export const DOMAIN_MDNS = 'local';
export const DOMAIN_SINGLE_LABEL = 'single_label';
/** What DomainLimiter returns once its distinct values are used up. */
export const DOMAIN_OTHER = 'other';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const MAX_DOMAIN_LABEL_LENGTH = 128;

export interface RegisteredDomainOptions {
  /** Kubernetes cluster domain (kubelet --cluster-domain). Default cluster.local. */
  clusterDomain?: string;
}

/** The fixed values registeredDomain can return for a given cluster domain. */
export function fixedDomainLabels(clusterDomain: string = DEFAULT_CLUSTER_DOMAIN): readonly string[] {
  return [
    DOMAIN_INVALID,
    DOMAIN_ROOT,
    DOMAIN_LOCALHOST,
    normaliseClusterDomain(clusterDomain),
    DOMAIN_REVERSE_V4,
    DOMAIN_REVERSE_V6,
    DOMAIN_MDNS,
    DOMAIN_SINGLE_LABEL,
    DOMAIN_OTHER,
  ];
}

function normaliseClusterDomain(d: string): string {
  let s = d.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s.startsWith('.')) s = s.slice(1);
  if (s === '' || !isHostnameChars(s)) throw new TypeError(`invalid cluster domain: ${JSON.stringify(d)}`);
  return s;
}

/** a-z 0-9 - _ and dots, no empty label. Expects lower case. */
function isHostnameChars(s: string): boolean {
  let prevDot = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (prevDot) return false;
      prevDot = true;
      continue;
    }
    prevDot = false;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) return false;
  }
  return !prevDot;
}

function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return true;
  return false;
}

function isUnder(name: string, suffix: string): boolean {
  return name === suffix || (name.endsWith(suffix) && name.charCodeAt(name.length - suffix.length - 1) === 0x2e);
}

/**
 * The `domain` label for a query name (see the table above). Pure and
 * uncached: psl costs microseconds, so per-event callers want DomainFolder.
 */
export function registeredDomain(qname: string, options: RegisteredDomainOptions = {}): string {
  return foldName(qname, options.clusterDomain === undefined ? DEFAULT_CLUSTER_DOMAIN : normaliseClusterDomain(options.clusterDomain));
}

function foldName(qname: string, clusterDomain: string): string {
  if (qname === '.') return DOMAIN_ROOT;
  let name = qname.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (hasNonAscii(name)) name = domainToASCII(name);
  if (name.length === 0 || name.length > 253 || !isHostnameChars(name)) return DOMAIN_INVALID;

  if (isUnder(name, 'localhost')) return DOMAIN_LOCALHOST;
  if (isUnder(name, clusterDomain)) return clusterDomain;
  if (isUnder(name, DOMAIN_REVERSE_V4)) return DOMAIN_REVERSE_V4;
  if (isUnder(name, DOMAIN_REVERSE_V6)) return DOMAIN_REVERSE_V6;
  if (isUnder(name, DOMAIN_MDNS)) return DOMAIN_MDNS;

  const parsed = pslParse(name);
  if (!('listed' in parsed)) return DOMAIN_INVALID; // psl's validation failed
  if (parsed.domain !== null) {
    return parsed.domain.length > MAX_DOMAIN_LABEL_LENGTH ? DOMAIN_INVALID : parsed.domain;
  }
  // No registrable part: either the name is itself a public suffix, or a
  // single label the PSL does not list.
  return parsed.listed ? name : DOMAIN_SINGLE_LABEL;
}

export interface DomainFolderOptions extends RegisteredDomainOptions {
  /** Distinct query names whose folding is remembered. Default 10000. */
  cacheSize?: number;
}

/**
 * registeredDomain with a bounded LRU memo in front, so that the cost for a
 * name seen before is a cache hit rather than a PSL walk.
 */
export class DomainFolder {
  readonly clusterDomain: string;
  readonly fixedLabels: readonly string[];
  private readonly cache: LRUCache<string, string>;
  private misses = 0;

  constructor(options: DomainFolderOptions = {}) {
    this.clusterDomain =
      options.clusterDomain === undefined ? DEFAULT_CLUSTER_DOMAIN : normaliseClusterDomain(options.clusterDomain);
    this.fixedLabels = fixedDomainLabels(this.clusterDomain);
    const max = options.cacheSize ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError(`cacheSize must be a positive integer, got ${max}`);
    this.cache = new LRUCache<string, string>({ max });
  }

  fold(qname: string): string {
    let d = this.cache.get(qname);
    if (d === undefined) {
      this.misses++;
      d = foldName(qname, this.clusterDomain);
      this.cache.set(qname, d);
    }
    return d;
  }

  get cacheMisses(): number {
    return this.misses;
  }

  get cacheEntries(): number {
    return this.cache.size;
  }
}

export interface DomainLimiterOptions {
  /** Distinct values let through, not counting `reserved`. Default 1000. */
  maxDomains?: number;
  /** Longest value let through; longer ones become `invalid`. Default 128. */
  maxLength?: number;
  /** Values always let through without using a slot. Default fixedDomainLabels(). */
  reserved?: Iterable<string>;
}

/**
 * Cardinality guard for the `domain` label: the first `maxDomains` distinct
 * values pass, every later new value becomes `other` and is counted in
 * `folded`. Values already admitted keep passing. A value that is too long
 * or not printable ASCII becomes `invalid` (counted in `sanitised`), so
 * whatever the caller feeds in, the label stays bounded and valid UTF-8.
 */
export class DomainLimiter {
  readonly maxDomains: number;
  readonly maxLength: number;
  private readonly admitted = new Set<string>();
  private readonly reserved: ReadonlySet<string>;
  private foldedCount = 0;
  private sanitisedCount = 0;

  constructor(options: DomainLimiterOptions = {}) {
    this.maxDomains = options.maxDomains ?? 1000;
    this.maxLength = options.maxLength ?? MAX_DOMAIN_LABEL_LENGTH;
    if (!Number.isInteger(this.maxDomains) || this.maxDomains < 0) {
      throw new TypeError(`maxDomains must be a non-negative integer, got ${this.maxDomains}`);
    }
    if (!Number.isInteger(this.maxLength) || this.maxLength < DOMAIN_INVALID.length) {
      throw new TypeError(`maxLength must be an integer >= ${DOMAIN_INVALID.length}, got ${this.maxLength}`);
    }
    this.reserved = new Set(options.reserved ?? fixedDomainLabels());
  }

  limit(domain: string): string {
    if (this.admitted.has(domain) || this.reserved.has(domain)) return domain;
    if (!this.isSafe(domain)) {
      this.sanitisedCount++;
      return DOMAIN_INVALID;
    }
    if (this.admitted.size >= this.maxDomains) {
      this.foldedCount++;
      return DOMAIN_OTHER;
    }
    this.admitted.add(domain);
    return domain;
  }

  /** Names turned into `other` because the limit was reached. */
  get folded(): number {
    return this.foldedCount;
  }

  /** Values turned into `invalid` for length or characters. */
  get sanitised(): number {
    return this.sanitisedCount;
  }

  /** Distinct values admitted so far (reserved ones not counted). */
  get size(): number {
    return this.admitted.size;
  }

  private isSafe(s: string): boolean {
    if (s.length === 0 || s.length > this.maxLength) return false;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x21 || c > 0x7e) return false;
    }
    return true;
  }
}
