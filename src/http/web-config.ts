// The Prometheus exporter-toolkit web configuration file (--web.config.file),
// read into what Node's TLS and HTTP servers need. The same file works for
// node_exporter: same keys, same defaults, same refusals. Every problem is one
// line naming the key, so a bad file is one clear error.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SecureVersion } from 'node:tls';
import { parse } from 'yaml';
import { UserError } from '../errors.js';
import { goCipherSuite, goCurve } from './tls-names.js';

/** Go's crypto/tls ClientAuthType names, as the toolkit spells them. */
export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS: Record<string, SecureVersion> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

export interface TlsServerSettings {
  cert: string;
  key: string;
  clientCa: string | undefined;
  clientAuthType: ClientAuthType;
  clientAllowedSans: string[];
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** OpenSSL names, colon-joined; undefined = Node's defaults. */
  ciphers: string | undefined;
  honorCipherOrder: boolean;
  /** OpenSSL curve names, colon-joined; undefined = Node's defaults. */
  ecdhCurve: string | undefined;
}

export interface WebConfig {
  tls: TlsServerSettings | undefined;
  /** user → bcrypt hash; empty = no basic auth. */
  basicAuthUsers: Map<string, string>;
  headers: Record<string, string>;
  /** Files the settings came from (the config file and what it names), for reload watching. */
  files: string[];
}

// The toolkit lets only these response headers be configured, some with fixed values.
const HEADER_RULES: Record<string, ((v: string) => boolean) | undefined> = {
  'Content-Security-Policy': undefined,
  'X-Frame-Options': (v) => /^(deny|sameorigin)$/i.test(v),
  'X-Content-Type-Options': (v) => /^nosniff$/i.test(v),
  'X-XSS-Protection': undefined,
  'Strict-Transport-Security': undefined,
};

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'];
const TLS_KEYS = [
  'cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_auth_type', 'client_ca_file',
  'client_allowed_sans', 'min_version', 'max_version', 'cipher_suites', 'prefer_server_cipher_suites',
  'curve_preferences',
];
const HTTP_KEYS = ['http2', 'headers'];

type Obj = Record<string, unknown>;

function fail(file: string, what: string): never {
  throw new UserError(`--web.config.file ${file}: ${what}`, 2);
}

function mapping(file: string, value: unknown, key: string, allowed?: string[]): Obj {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(file, `${key} must be a mapping`);
  if (allowed) {
    for (const k of Object.keys(value)) if (!allowed.includes(k)) fail(file, `unknown key ${key ? `${key}.` : ''}${k}`);
  }
  return value as Obj;
}

function str(file: string, obj: Obj, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') fail(file, `${path}.${key} must be a string`);
  return v;
}

function strings(file: string, obj: Obj, key: string, path: string): string[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(file, `${path}.${key} must be a list of strings`);
  return v as string[];
}

function readNamed(file: string, base: string, name: string, key: string, files: string[]): string {
  const path = resolve(base, name);
  files.push(path);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    return fail(file, `tls_server_config.${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Inline PEM or a file (relative paths are relative to the config file, as in the toolkit); never both. */
function pem(file: string, tls: Obj, inlineKey: string, fileKey: string, files: string[]): string | undefined {
  const inline = str(file, tls, inlineKey, 'tls_server_config');
  const named = str(file, tls, fileKey, 'tls_server_config');
  if (inline !== undefined && named !== undefined) fail(file, `tls_server_config: give ${inlineKey} or ${fileKey}, not both`);
  if (named !== undefined) return readNamed(file, dirname(file), named, fileKey, files);
  return inline;
}

function tlsVersion(file: string, tls: Obj, key: string, fallback: SecureVersion): SecureVersion {
  const v = str(file, tls, key, 'tls_server_config');
  if (v === undefined) return fallback;
  const mapped = TLS_VERSIONS[v];
  if (!mapped) fail(file, `tls_server_config.${key}: unknown TLS version "${v}" (one of ${Object.keys(TLS_VERSIONS).join(', ')})`);
  return mapped;
}

function parseTls(file: string, raw: unknown, files: string[]): TlsServerSettings | undefined {
  if (raw === undefined || raw === null) return undefined;
  const tls = mapping(file, raw, 'tls_server_config', TLS_KEYS);
  const cert = pem(file, tls, 'cert', 'cert_file', files);
  const key = pem(file, tls, 'key', 'key_file', files);
  // The toolkit serves plain HTTP when neither is set, and refuses one without the other.
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) fail(file, 'tls_server_config: missing cert_file (or cert)');
  if (key === undefined) fail(file, 'tls_server_config: missing key_file (or key)');
  const clientCa = pem(file, tls, 'client_ca', 'client_ca_file', files);
  const authText = str(file, tls, 'client_auth_type', 'tls_server_config') ?? 'NoClientCert';
  if (!(CLIENT_AUTH_TYPES as readonly string[]).includes(authText))
    fail(file, `tls_server_config.client_auth_type: "${authText}" is not one of ${CLIENT_AUTH_TYPES.join(', ')}`);
  const clientAuthType = authText as ClientAuthType;
  const verifies = clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert';
  if (verifies && clientCa === undefined) fail(file, `tls_server_config: client_auth_type ${clientAuthType} needs client_ca_file`);
  if (clientCa !== undefined && clientAuthType === 'NoClientCert')
    fail(file, 'tls_server_config: client_ca_file is set but client_auth_type is NoClientCert (set it to RequireAndVerifyClientCert)');
  const clientAllowedSans = strings(file, tls, 'client_allowed_sans', 'tls_server_config');
  if (clientAllowedSans.length > 0 && clientAuthType !== 'RequireAnyClientCert' && clientAuthType !== 'RequireAndVerifyClientCert')
    fail(file, 'tls_server_config: client_allowed_sans needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert');
  const minVersion = tlsVersion(file, tls, 'min_version', 'TLSv1.2');
  const maxVersion = tlsVersion(file, tls, 'max_version', 'TLSv1.3');
  if (minVersion > maxVersion) fail(file, 'tls_server_config: min_version is above max_version');
  const suites = strings(file, tls, 'cipher_suites', 'tls_server_config').map((name) => {
    const mapped = goCipherSuite(name);
    if (!mapped) fail(file, `tls_server_config.cipher_suites: unknown or unsupported cipher suite "${name}"`);
    return mapped;
  });
  const curves = strings(file, tls, 'curve_preferences', 'tls_server_config').map((name) => {
    const mapped = goCurve(name);
    if (!mapped) fail(file, `tls_server_config.curve_preferences: unknown curve "${name}"`);
    return mapped;
  });
  const prefer = tls.prefer_server_cipher_suites;
  if (prefer !== undefined && prefer !== null && typeof prefer !== 'boolean')
    fail(file, 'tls_server_config.prefer_server_cipher_suites must be true or false');
  return {
    cert,
    key,
    clientCa,
    clientAuthType,
    clientAllowedSans,
    minVersion,
    maxVersion,
    // TLS 1.3 suites are not configurable in Go either; these apply up to TLS 1.2.
    ciphers: suites.length > 0 ? suites.join(':') : undefined,
    honorCipherOrder: prefer !== false,
    ecdhCurve: curves.length > 0 ? curves.join(':') : undefined,
  };
}

function parseHeaders(file: string, raw: unknown): Record<string, string> {
  const http = mapping(file, raw, 'http_server_config', HTTP_KEYS);
  if (http.http2 !== undefined && typeof http.http2 !== 'boolean') fail(file, 'http_server_config.http2 must be true or false');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(mapping(file, http.headers, 'http_server_config.headers'))) {
    const canonical = Object.keys(HEADER_RULES).find((h) => h.toLowerCase() === name.toLowerCase());
    if (!canonical) fail(file, `http_server_config.headers: header ${name} can not be configured (only ${Object.keys(HEADER_RULES).join(', ')})`);
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string') fail(file, `http_server_config.headers.${name} must be a string`);
    const check = HEADER_RULES[canonical];
    if (check && !check(value)) fail(file, `http_server_config.headers: invalid value "${value}" for ${canonical}`);
    headers[canonical] = value;
  }
  return headers;
}

function parseUsers(file: string, raw: unknown): Map<string, string> {
  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(mapping(file, raw, 'basic_auth_users'))) {
    if (typeof hash !== 'string' || !/^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash))
      fail(file, `basic_auth_users.${user}: not a bcrypt hash (make one with htpasswd -nBC 10 "" | tr -d ':\\n')`);
    users.set(user, hash);
  }
  return users;
}

/** Reads and checks the file; throws a one-line UserError on any problem. */
export function loadWebConfig(path: string): WebConfig {
  const file = resolve(path);
  const files = [file];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return fail(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return fail(file, `not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) fail(file, 'the file must be a YAML mapping');
  const top = mapping(file, doc, '', TOP_KEYS);
  if (top.rate_limit !== undefined && top.rate_limit !== null) fail(file, 'rate_limit is not supported by KubePulse');
  return {
    tls: parseTls(file, top.tls_server_config, files),
    basicAuthUsers: parseUsers(file, top.basic_auth_users),
    headers: parseHeaders(file, top.http_server_config),
    files,
  };
}
