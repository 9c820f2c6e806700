// Failed loads name what the kernel lacks: errno hints and the verifier
// messages of kernels too old for a program (seen on 5.10 in the kernel matrix).
import t from 'tap';
import { describeBpfError, verifierHint } from '../src/errors.js';

const failedLoad = (libbpfLog: string) => Object.assign(new Error('cannot load BPF object x.bpf.o: Invalid argument'), { code: 'EINVAL', libbpfLog });

t.test('5.10 rejecting the atomic OR names Linux 5.12', async (t) => {
  const err = failedLoad("libbpf: prog 'kp_sys_enter_btf': -- BEGIN PROG LOAD LOG --\nBPF_STX uses reserved fields\nprocessed 0 insns\n");
  t.equal(describeBpfError(err), 'cannot load BPF object x.bpf.o: Invalid argument (needs BPF atomic instructions other than add (Linux 5.12))');
});

t.test('an unknown helper is named', async (t) => {
  t.equal(verifierHint(failedLoad('0: (85) call bpf_ringbuf_reserve#131\nunknown func bpf_ringbuf_reserve#131\n')), 'needs the bpf_ringbuf_reserve helper, which this kernel does not have');
  t.equal(
    verifierHint(failedLoad('program of this type cannot use helper bpf_sk_storage_get#107\n')),
    'needs bpf_sk_storage_get in this program type, which this kernel does not allow',
  );
});

t.test('errno hints win; unknown logs add nothing', async (t) => {
  t.match(describeBpfError(Object.assign(new Error('x'), { code: 'EPERM', libbpfLog: 'BPF_STX uses reserved fields' })), /needs CAP_BPF/);
  t.equal(describeBpfError(failedLoad('R1 invalid mem access')), 'cannot load BPF object x.bpf.o: Invalid argument');
  t.equal(verifierHint(new Error('plain')), undefined);
});
