// Go's crypto/tls names (as written in exporter-toolkit web config files)
// mapped to OpenSSL's, which Node speaks. Only Go's secure TLS ≤ 1.2 suites
// (tls.CipherSuites()) that OpenSSL also offers are accepted, as in the toolkit.

const CIPHER_SUITES: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
};
// Go's aliases with the _SHA256 suffix spelled out.
CIPHER_SUITES.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 = CIPHER_SUITES.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 as string;
CIPHER_SUITES.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305 = CIPHER_SUITES.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 as string;

const CURVES: Record<string, string> = {
  CurveP256: 'prime256v1',
  CurveP384: 'secp384r1',
  CurveP521: 'secp521r1',
  X25519: 'X25519',
};

export function goCipherSuite(name: string): string | undefined {
  return Object.hasOwn(CIPHER_SUITES, name) ? CIPHER_SUITES[name] : undefined;
}

export function goCurve(name: string): string | undefined {
  return Object.hasOwn(CURVES, name) ? CURVES[name] : undefined;
}
