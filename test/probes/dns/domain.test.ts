import t from 'tap';
import {
  registeredDomain,
  fixedDomainLabels,
  DomainFolder,
  DomainLimiter,
  DOMAIN_OTHER,
  DOMAIN_INVALID,
} from '../../../src/probes/dns/domain.js';

const l63 = 'a'.repeat(63);

const TABLE: Array<[input: string, want: string, why: string]> = [
  // psl
  ['www.api.google.com', 'google.com', 'registered domain'],
  ['google.com', 'google.com', 'already registered'],
  ['a.b.example.co.uk', 'example.co.uk', 'two-label public suffix'],
  ['www.example.co.uk', 'example.co.uk', ''],
  ['_sip._tcp.example.com', 'example.com', 'SRV underscore labels'],
  ['bucket.s3.amazonaws.com', 'bucket.s3.amazonaws.com', 'PSL private section'],
  ['foo.bar.github.io', 'bar.github.io', 'PSL private section'],
  ['a.b.foo.ck', 'b.foo.ck', 'wildcard rule *.ck'],
  ['www.ck', 'www.ck', 'exception rule !www.ck'],
  ['ip-10-0-0-1.ec2.internal', 'ec2.internal', 'unlisted TLD: default rule'],
  ['x.y.corp', 'y.corp', 'unlisted TLD: default rule'],
  ['a.home.arpa', 'a.home.arpa', 'home.arpa is a listed suffix'],
  // normalisation
  ['WWW.Example.CO.UK', 'example.co.uk', 'upper case'],
  ['www.google.com.', 'google.com', 'trailing dot'],
  ['WWW.GOOGLE.COM.', 'google.com', 'both'],
  // bare public suffixes
  ['co.uk', 'co.uk', 'bare two-label suffix'],
  ['com', 'com', 'TLD'],
  ['COM.', 'com', 'TLD, normalised'],
  ['s3.amazonaws.com', 's3.amazonaws.com', 'bare private suffix'],
  ['xn--p1ai', 'xn--p1ai', 'IDN TLD stays punycode'],
  // IDN
  ['www.xn--bcher-kva.de', 'xn--bcher-kva.de', 'punycode kept'],
  ['a.b.xn--e1afmkfd.xn--p1ai', 'xn--e1afmkfd.xn--p1ai', 'punycode under IDN TLD'],
  ['www.bücher.de', 'xn--bcher-kva.de', 'Unicode converted to punycode'],
  ['пример.рф', 'xn--e1afmkfd.xn--p1ai', 'Unicode TLD'],
  // cluster-local
  ['kubernetes.default.svc.cluster.local', 'cluster.local', ''],
  ['my-svc.my-ns.svc.cluster.local', 'cluster.local', ''],
  ['10-0-0-1.my-ns.pod.cluster.local', 'cluster.local', 'pod A record'],
  ['api.example.com.default.svc.cluster.local', 'cluster.local', 'search-path expansion'],
  ['cluster.local', 'cluster.local', 'the cluster domain itself'],
  ['Kubernetes.Default.SVC.Cluster.Local.', 'cluster.local', 'normalised'],
  ['notcluster.local', 'local', 'not under cluster.local: mDNS'],
  // reverse
  ['10.2.0.192.in-addr.arpa', 'in-addr.arpa', 'reverse v4'],
  ['in-addr.arpa', 'in-addr.arpa', ''],
  ['b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa', 'ip6.arpa', 'reverse v6'],
  ['1.0.0.2.IP6.ARPA.', 'ip6.arpa', 'reverse v6, normalised'],
  ['e164.arpa', 'e164.arpa', 'other arpa suffix'],
  // special
  ['printer.local', 'local', 'mDNS'],
  ['localhost', 'localhost', ''],
  ['LOCALHOST.', 'localhost', ''],
  ['foo.localhost', 'localhost', ''],
  ['.', 'root', 'root'],
  // single labels
  ['myhost', 'single_label', 'bare host name'],
  ['kubernetes', 'single_label', 'search-path leftover'],
  ['wpad', 'single_label', ''],
  // invalid
  ['', 'invalid', 'empty'],
  ['a..b.com', 'invalid', 'empty label'],
  ['.example.com', 'invalid', 'leading dot'],
  ['example.com..', 'invalid', 'two trailing dots'],
  ['-bad.example.com', 'invalid', 'psl: label starts with dash'],
  ['a b.example.com', 'invalid', 'space'],
  ['a\\032b.example.com', 'invalid', 'escape from the wire parser'],
  ['a\\.b.example.com', 'invalid', 'escaped dot'],
  ['*.example.com', 'invalid', 'wildcard'],
  [`${l63}a.example.com`, 'invalid', 'label of 64'],
  [`${l63}.${l63}.${l63}.${l63}`, 'invalid', '255 chars, over 253'],
  // very long but legal
  [`${l63}.${l63}.${l63}.${'b'.repeat(57)}.com`, `${'b'.repeat(57)}.com`, '253 chars'],
  [`${'x.'.repeat(100)}example.org`, 'example.org', '102 labels'],
];

t.test('folding table', async (t) => {
  for (const [input, want, why] of TABLE) {
    t.equal(registeredDomain(input), want, `${JSON.stringify(input)}${why ? ` (${why})` : ''}`);
  }
});

t.test('every fold is a bounded, printable ASCII label', async (t) => {
  for (const [input] of TABLE) {
    const d = registeredDomain(input);
    t.ok(d.length <= 128 && /^[\x21-\x7e]+$/.test(d), `${JSON.stringify(d)} is a safe label`);
  }
});

t.test('configurable cluster domain', async (t) => {
  const opts = { clusterDomain: 'Corp.Example.' };
  t.equal(registeredDomain('api.prod.svc.corp.example', opts), 'corp.example');
  t.equal(registeredDomain('kubernetes.default.svc.cluster.local', opts), 'local', 'default no longer special');
  t.equal(registeredDomain('www.example.com', opts), 'example.com');
  t.throws(() => registeredDomain('x', { clusterDomain: 'bad domain' }), TypeError);
  t.throws(() => new DomainFolder({ clusterDomain: '' }), TypeError);
  t.same(new DomainFolder(opts).fixedLabels.includes('corp.example'), true);
});

t.test('DomainFolder memoises and agrees with registeredDomain', async (t) => {
  const f = new DomainFolder({ cacheSize: 3 });
  t.equal(f.fold('www.api.google.com'), 'google.com');
  t.equal(f.fold('www.api.google.com'), 'google.com');
  t.equal(f.cacheMisses, 1, 'second lookup is a hit');
  for (const [input, want] of TABLE) t.equal(f.fold(input), want, input);
  t.equal(f.cacheEntries, 3, 'cache stays at its bound');
  t.throws(() => new DomainFolder({ cacheSize: 0 }), TypeError);
});

t.test('DomainLimiter folds beyond N and counts', async (t) => {
  const lim = new DomainLimiter({ maxDomains: 3 });
  t.equal(lim.limit('a.com'), 'a.com');
  t.equal(lim.limit('b.com'), 'b.com');
  t.equal(lim.limit('a.com'), 'a.com');
  t.equal(lim.limit('c.com'), 'c.com');
  t.equal(lim.size, 3);
  t.equal(lim.limit('d.com'), DOMAIN_OTHER);
  t.equal(lim.limit('e.com'), DOMAIN_OTHER);
  t.equal(lim.limit('d.com'), DOMAIN_OTHER, 'still folded on repeat');
  t.equal(lim.folded, 3, 'each folded name counted');
  t.equal(lim.limit('b.com'), 'b.com', 'admitted values keep passing');
  for (const fixed of fixedDomainLabels()) t.equal(lim.limit(fixed), fixed, `${fixed} is reserved`);
  t.equal(lim.size, 3);
  t.equal(lim.folded, 3);

  t.equal(lim.limit('x'.repeat(129)), DOMAIN_INVALID, 'too long');
  t.equal(lim.limit('bad\u0000.com'), DOMAIN_INVALID, 'control char');
  t.equal(lim.limit('bücher.de'), DOMAIN_INVALID, 'non-ASCII');
  t.equal(lim.limit(''), DOMAIN_INVALID, 'empty');
  t.equal(lim.sanitised, 4);
  t.equal(lim.folded, 3, 'sanitising is not folding');

  const fresh = new DomainLimiter();
  t.equal(fresh.maxDomains, 1000);
  for (let i = 0; i < 1000; i++) fresh.limit(`d${i}.com`);
  t.equal(fresh.limit('one-more.com'), DOMAIN_OTHER);
  t.equal(fresh.folded, 1);
  t.equal(new DomainLimiter({ maxLength: 10 }).limit('eleven.chrs'), DOMAIN_INVALID);
  t.equal(new DomainLimiter({ maxDomains: 0 }).limit('a.com'), DOMAIN_OTHER);
  t.throws(() => new DomainLimiter({ maxDomains: -1 }), TypeError);
});
