// Sums a `perf report --sort symbol` listing (one "NN.NN% [.] symbol" line each) by kind of
// work, classifying V8's and workerd's internals by symbol name. Used by workerd-perf.sh.
import { readFileSync } from 'node:fs';

const kinds = [
  ['kernel', (n) => n.includes('[k]')],
  ['JIT-compiled code (JS and wasm)', (n) => n.includes('JS:') || n.includes('Stub:')],
  ['wasm compilation (V8)', (n) => /wasm::|Liftoff|WasmFullDecoder|Assembler|SafepointTable|SourcePositionTable|RelocInfo|JitPage/.test(n)],
  ['JS compilation (V8)', (n) => /compiler::|turboshaft|maglev|Scanner|Parser|Bytecode|interpreter|ScopeInfo|DeclarationScope/i.test(n)],
  ['garbage collection', (n) => /Scaveng|MarkCompact|Sweep|Marking|Heap::/.test(n)],
  ['allocation, copies, locks', (n) => /tcmalloc|TCMalloc|malloc|memmove|memset|memcpy|Mutex/.test(n)],
  ['everything else (runtime, workerd, I/O)', () => true],
];
const totals = new Map(kinds.map(([k]) => [k, 0]));
for (const line of readFileSync(process.argv[2], 'utf8').split('\n')) {
  const m = line.match(/^\s*([\d.]+)% (.*)$/);
  if (!m) continue;
  const [kind] = kinds.find(([, test]) => test(m[2]));
  totals.set(kind, totals.get(kind) + Number(m[1]));
}
for (const [k, v] of totals) console.log(`${v.toFixed(1).padStart(6)}%  ${k}`);
