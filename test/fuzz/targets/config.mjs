// Configuration (src/config.ts): command-line flags and KUBEPULSE_* env
// variables, as a DaemonSet manifest or an operator writes them. Input: the
// first line is argv (split on spaces), the other lines are NAME=value
// environment entries.
// Invariant: parseConfig either returns or throws UserError (one line, exit
// code 2); what it returns is within range (ports, probe names, a power-of-
// two ring buffer, finite durations that fit a timer), and the components
// it configures accept it — a value the parser lets through must not fail
// later as a TypeError with a stack trace at start-up.

const MAX_TIMER_MS = 2 ** 31 - 1;

export default {
  sources: ['src/config.js'],
  maxLength: 512,
  dictionary: ['--dns-timeout ', '--metadata-cache-ttl ', '--series-grace ', '--port ', '--dns-ports ', '--probes ', '--ring-buffer-bytes ', '--dns-max-domains ', '--flows-per-pod ', '--cluster-domain ', '--attach ', '--log-level ', 'KUBEPULSE_DNS_TIMEOUT=', 'KUBEPULSE_PORT=', '\n', '0.5ms', '0s', '1e3s', '99999999999h', 'tcp,dns', ' check', ' --help', '=', ','],
  async setup(load) {
    const { parseConfig } = await load('src/config.js');
    const { UserError } = await load('src/errors.js');
    const { IdentityCache } = await load('src/metadata/identity-cache.js');
    const { DnsMatcher } = await load('src/probes/dns/matcher.js');
    const { DomainLimiter } = await load('src/probes/dns/domain.js');
    return (data) => {
      const [first = '', ...rest] = data.toString('utf8').split('\n');
      const argv = first.split(' ').filter((a) => a !== '');
      const env = {};
      for (const line of rest) {
        const eq = line.indexOf('=');
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      let parsed;
      try {
        parsed = parseConfig(argv, env, 'build/bpf');
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        if (err.message.includes('\n') || err.exitCode !== 2) throw new Error(`UserError not one line / exit 2: ${JSON.stringify(err.message)} ${err.exitCode}`);
        return;
      }
      const c = parsed.config;
      if (!['run', 'check', 'help'].includes(parsed.command)) throw new Error(`command ${parsed.command}`);
      if (!(c.port >= 0 && c.port <= 65535)) throw new Error(`port ${c.port}`);
      if (c.dnsPorts.length < 1 || c.dnsPorts.length > 8 || !c.dnsPorts.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) throw new Error(`dnsPorts ${c.dnsPorts}`);
      if (c.ringBufferBytes < 4096 || (c.ringBufferBytes & (c.ringBufferBytes - 1)) !== 0) throw new Error(`ringBufferBytes ${c.ringBufferBytes}`);
      for (const k of ['dnsTimeoutMs', 'metadataCacheTtlMs', 'seriesGraceMs']) {
        if (!Number.isFinite(c[k]) || c[k] < 0 || c[k] > MAX_TIMER_MS) throw new Error(`${k} = ${c[k]} (from ${JSON.stringify(first)} ${JSON.stringify(env)}) is not a usable duration`);
      }
      // The components these values configure must accept them.
      new IdentityCache({ max: 16, ttlMs: c.metadataCacheTtlMs });
      new DnsMatcher({ timeoutSeconds: c.dnsTimeoutMs / 1000 });
      new DomainLimiter({ maxDomains: c.dnsMaxDomains });
    };
  },
};
