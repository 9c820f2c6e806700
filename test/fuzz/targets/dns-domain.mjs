// Domain folding (src/probes/dns/domain.ts): a query name → the `domain`
// label. Input: any string (the bytes read as Latin-1, and as UTF-8, which
// is how a Unicode name handed in directly looks).
// Invariant: never throws; the label is one of the fixed values or plain
// lower-case hostname characters of at most MAX_DOMAIN_LABEL_LENGTH; the
// cached folder agrees with the uncached function; DomainLimiter never lets
// more than maxDomains distinct values (plus the reserved ones) through.

export default {
  sources: ['src/probes/dns/domain.js'],
  maxLength: 400,
  dictionary: ['.cluster.local', '.in-addr.arpa', '.ip6.arpa', '.localhost', '.local', '.co.uk', '.com', 'xn--', '.s3.amazonaws.com', '.github.io', '\\046', 'bücher.', '.compute.amazonaws.com', '.ck', '.'],
  async setup(load) {
    const d = await load('src/probes/dns/domain.js');
    const folder = new d.DomainFolder({ clusterDomain: 'cluster.local', cacheSize: 1000 });
    const fixed = new Set(folder.fixedLabels);
    const MAX = 50;
    let limiter = new d.DomainLimiter({ maxDomains: MAX, reserved: folder.fixedLabels });
    const admitted = new Set();
    const checkLabel = (q, label) => {
      if (fixed.has(label)) return;
      if (label.length > d.MAX_DOMAIN_LABEL_LENGTH) throw new Error(`label of ${label.length} chars for ${JSON.stringify(q)}`);
      if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(label)) throw new Error(`label ${JSON.stringify(label)} for ${JSON.stringify(q)} is not a hostname`);
    };
    return (data) => {
      for (const q of [data.toString('latin1'), data.toString('utf8')]) {
        const label = d.registeredDomain(q);
        checkLabel(q, label);
        if (folder.fold(q) !== label) throw new Error(`folder and registeredDomain disagree on ${JSON.stringify(q)}`);
        const limited = limiter.limit(label);
        if (limited !== label && limited !== d.DOMAIN_OTHER && limited !== d.DOMAIN_INVALID) throw new Error(`limiter invented ${limited}`);
        if (!fixed.has(limited) && limited !== d.DOMAIN_OTHER) admitted.add(limited);
        if (admitted.size > MAX) throw new Error(`limiter let ${admitted.size} > ${MAX} values through`);
      }
      if (admitted.size === MAX) {
        // Start over now and then, so admission keeps being exercised.
        limiter = new d.DomainLimiter({ maxDomains: MAX, reserved: folder.fixedLabels });
        admitted.clear();
      }
    };
  },
};
