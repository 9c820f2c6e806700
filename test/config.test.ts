import t from 'tap';
import { envName, parseConfig, parseDuration, usage, FLAGS } from '../src/config.js';
import { UserError } from '../src/errors.js';

t.test('defaults', async (t) => {
  const { command, config } = parseConfig([], { NODE_NAME: 'node-a' });
  t.equal(command, 'run');
  t.equal(config.port, 9090);
  t.equal(config.nodeName, 'node-a');
  t.equal(config.attach, 'auto');
  t.same(config.dnsPorts, [53]);
  t.equal(config.dnsTimeoutMs, 5000);
  t.equal(config.metadataCacheTtlMs, 60_000);
  t.equal(config.ringBufferBytes, undefined, 'each probe sizes its own ring');
  t.equal(config.procfs, '/proc');
  t.equal(config.cgroupfs, undefined);
});

t.test('--ring-buffer-bytes sizes every ring, from the flag or the environment', async (t) => {
  t.equal(parseConfig(['--ring-buffer-bytes', '65536'], {}).config.ringBufferBytes, 65536);
  t.equal(parseConfig([], { KUBEPULSE_RING_BUFFER_BYTES: '8388608' }).config.ringBufferBytes, 8388608);
});

t.test('flags win over the environment, which wins over defaults', async (t) => {
  const env = { KUBEPULSE_PORT: '9100', KUBEPULSE_PATH_PROCFS: '/host/proc', KUBEPULSE_LOG_LEVEL: 'debug', NODE_NAME: 'n' };
  const { config } = parseConfig(['--port', '9200', '--node-name=flag-node'], env);
  t.equal(config.port, 9200);
  t.equal(config.procfs, '/host/proc');
  t.equal(config.logLevel, 'debug');
  t.equal(config.nodeName, 'flag-node');
});

t.test('subcommands and help', async (t) => {
  t.equal(parseConfig(['check', '--attach=tracepoint'], {}).command, 'check');
  t.equal(parseConfig(['check', '--attach=tracepoint'], {}).config.attach, 'tracepoint');
  t.equal(parseConfig(['check', '--attach=classic'], {}).config.attach, 'classic');
  t.equal(parseConfig(['--help'], {}).command, 'help');
  for (const f of FLAGS) t.match(usage(), `--${f.name}`, `usage documents --${f.name}`);
  t.equal(envName('path.procfs'), 'KUBEPULSE_PATH_PROCFS');
  t.equal(envName('dns-max-domains'), 'KUBEPULSE_DNS_MAX_DOMAINS');
});

t.test('bad input is one clear line', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /^unknown flag --bogus \(see kubepulse --help\)$/],
    [['--port', '70000'], /^--port: 70000 is outside 0\.\.65535$/],
    [['--port', 'x'], /^--port: "x" is not a whole number$/],
    [['--attach', 'fentry'], /^--attach: "fentry" is not one of auto, kprobe, tracepoint, classic$/],
    [['--log-level', 'loud'], /^--log-level: "loud" is not one of debug, info, warn, error$/],
    [['--ring-buffer-bytes', '5000'], /not a power of two/],
    [['--dns-timeout', '5'], /is not a duration/],
    [['--dns-ports', '53,x'], /"x" is not a whole number/],
    [['frobnicate'], /^unknown command "frobnicate"/],
  ];
  for (const [argv, message] of cases) {
    let caught: unknown;
    try {
      parseConfig(argv, {});
    } catch (err) {
      caught = err;
    }
    t.ok(caught instanceof UserError, `${argv.join(' ')} is a user error`);
    t.match((caught as Error).message, message, argv.join(' '));
    t.notMatch((caught as Error).message, /\n/, 'one line');
  }
});

t.test('durations', async (t) => {
  t.equal(parseDuration('250ms', 'x'), 250);
  t.equal(parseDuration('5s', 'x'), 5000);
  t.equal(parseDuration('1.5m', 'x'), 90_000);
  t.equal(parseDuration('1h', 'x'), 3_600_000);
  // Fuzzer findings: each passed the parser, then broke the component it configures.
  t.throws(() => parseDuration('0s', 'dns-timeout'), /--dns-timeout: "0s" is outside 1ms\.\.596h/);
  t.throws(() => parseDuration('0.4ms', 'metadata-cache-ttl'), /outside/);
  t.throws(() => parseDuration('1000h', 'series-grace'), /outside/);
  t.throws(() => parseDuration(`${'9'.repeat(400)}s`, 'x'), /outside/);
  t.equal(parseDuration('0.5ms', 'x'), 1, 'rounded to whole milliseconds');
});
