// Preloaded into the daemon for the bench's CPU profile (node --require …): SIGUSR2 starts the
// V8 CPU profiler, the next SIGUSR2 stops it and writes the profile to $PROF_OUT (and so on). Not
// node --cpu-prof: its sampling signal (SIGPROF) runs from process start, and a signal pending
// while the kernel verifies a BPF program makes the verifier give up (EAGAIN), so probes
// failed to load in the profiled daemon.
const inspector = require('node:inspector');
const fs = require('node:fs');
let s;
process.on('SIGUSR2', () => {
  if (!s) {
    s = new inspector.Session();
    s.connect();
    s.post('Profiler.enable', () => s.post('Profiler.start'));
    return;
  }
  const session = s;
  s = undefined; // the next SIGUSR2 starts another profile
  session.post('Profiler.stop', (err, r) => {
    fs.writeFileSync(process.env.PROF_OUT, JSON.stringify(r.profile));
    session.disconnect();
  });
});
