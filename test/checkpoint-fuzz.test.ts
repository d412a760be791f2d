// Seeded fuzzing of checkpoint loading (project issue 17): a few small valid files written by the
// library, mutated thousands of times (truncations, header lengths, broken JSON, offsets, dtypes,
// shapes of equal element count, NaN/Inf, metadata of wrong types). Every outcome must be a typed
// error that leaves the model untouched, or a load that is bit-identical to what the file says.
// MVD_FUZZ_SEED=<n> replays another sequence; a failure prints the seed and the case number.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, MvdError, DTypeError, ShapeError, ValueError, type DType } from '../lib/index.js';
import { Module } from '../lib/nn/module.js';
import { videoVit } from '../lib/nn/config.js';
import { VisionTransformer } from '../lib/nn/encoder.js';
import { loadWeights, saveWeights, stateDict } from '../lib/io/checkpoint.js';
import { SafetensorsError, loadSafetensors, saveSafetensors } from '../lib/io/safetensors.js';
import { f32ByteOffset, joinSafetensors, shiftHeaderLength, splitSafetensors, type RawSafetensors } from './helpers/safetensors-bytes.js';

const SEED = Number(process.env.MVD_FUZZ_SEED ?? 17);
const CASES = 2400;
const dir = mkdtempSync(join(tmpdir(), 'mvd-fuzz-'));

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = mulberry32(SEED);
const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1)); // inclusive
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

class Net extends Module {
  constructor(shapes: [string, number[]][], seed: number) {
    super();
    const r = mulberry32(seed);
    for (const [name, shape] of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      this.param(
        name,
        Tensor.fromArray(
          Float32Array.from({ length: n }, () => r() * 2 - 1),
          shape,
        ),
      );
    }
  }
}

function snapshot(m: Module): Buffer {
  return Buffer.concat(
    [...stateDict(m).values()].map((v) => {
      const a = v.toArraySync();
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }),
  );
}

/** A valid file and how to load it: into a model (strict) or as plain tensors. */
interface Base {
  name: string;
  bytes: Buffer;
  raw: RawSafetensors;
  net?: { shapes: [string, number[]][]; want: Buffer };
}

async function netBase(name: string, shapes: [string, number[]][], metadata: Record<string, string>): Promise<Base> {
  const p = join(dir, `${name}.safetensors`);
  using src = new Net(shapes, 1);
  await saveWeights(p, src, metadata);
  const bytes = readFileSync(p);
  return { name, bytes, raw: splitSafetensors(bytes), net: { shapes, want: snapshot(src) } };
}

async function mixedBase(): Promise<Base> {
  const p = join(dir, 'mixed.safetensors');
  // u8 [7] first puts every later tensor at an offset that is not a multiple of 4.
  const tensors: Record<string, Tensor> = {
    a_u8: Tensor.fromArray(
      Uint8Array.from({ length: 7 }, (_, i) => i * 37),
      [7],
    ),
    b_f32: Tensor.fromArray(
      Float32Array.from({ length: 15 }, (_, i) => i / 3 - 2),
      [3, 5],
    ),
    c_bf16: Tensor.fromArray(new Uint16Array([0x3f80, 0xbf80, 0x7f7f, 0x0001]), [4]),
    d_i32: Tensor.fromArray(new Int32Array([-1, 2, 0x7fffffff, -0x80000000]), [2, 2]),
    e_empty: Tensor.zeros([0, 3]),
  };
  await saveSafetensors(p, tensors, { format: 'pt', epoch: '3' });
  for (const x of Object.values(tensors)) x.dispose();
  const bytes = readFileSync(p);
  return { name: 'mixed', bytes, raw: splitSafetensors(bytes) };
}

/** must: the outcome is an error of that class; 'load': a load of exactly what the file says; 'either'. */
type Expect = { must: 'error'; cls: typeof MvdError } | { must: 'load' } | { must: 'either' };
interface Mutant {
  bytes: Buffer;
  expect: Expect;
}
const err = (cls: typeof MvdError): Expect => ({ must: 'error', cls });
const FILE_ERR = err(SafetensorsError);

function clone(b: Base): RawSafetensors {
  return { header: structuredClone(b.raw.header), data: Buffer.from(b.raw.data) };
}
const tensorNames = (r: RawSafetensors) => Object.keys(r.header).filter((k) => k !== '__metadata__');
const nonEmpty = (r: RawSafetensors) => tensorNames(r).filter((k) => r.header[k].data_offsets[1] > r.header[k].data_offsets[0]);
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Another shape with the same element count (never the original). */
function sameCountShape(shape: number[]): number[] {
  const n = numel(shape);
  const options: number[][] = [[n], [1, n], [n, 1], [...shape].reverse(), [...shape, 1], [1, ...shape]];
  for (let d = 2; d < n; d++) if (n % d === 0) options.push([d, n / d]);
  const differs = options.filter((s) => s.length !== shape.length || s.some((x, i) => x !== shape[i]));
  return pick(differs);
}

const mutators: Record<string, (b: Base) => Mutant | null> = {
  truncate: (b) => ({ bytes: b.bytes.subarray(0, int(0, b.bytes.length - 1)), expect: FILE_ERR }),
  trailingBytes: (b) => ({ bytes: Buffer.concat([b.bytes, Buffer.alloc(int(1, 9), int(0, 255))]), expect: FILE_ERR }),
  headerLengthPlusMinusOne: (b) => ({ bytes: shiftHeaderLength(b.bytes, pick([-1, 1])), expect: FILE_ERR }),
  headerLengthRandom: (b) => {
    const real = b.bytes.readBigUInt64LE(0);
    const len = pick([
      BigInt(int(0, b.bytes.length)),
      1n << BigInt(int(8, 63)),
      0xffffffffffffffffn,
      real + BigInt(int(2, 64)),
      real - BigInt(int(2, 16)),
    ]);
    if (len === real || len < 0n) return null;
    const out = Buffer.from(b.bytes);
    out.writeBigUInt64LE(len);
    return { bytes: out, expect: FILE_ERR };
  },
  badJson: (b) => {
    const text = JSON.stringify(b.raw.header);
    const at = int(0, text.length - 1);
    const junk = pick(['{', '}', '[', ']', ',', ':', '"', '0', '-', 'a', ' ', '\u0000', '\u00ff', 'null']);
    const broken = pick([
      text.slice(0, at) + text.slice(at + 1),
      text.slice(0, at) + junk + text.slice(at),
      text.slice(0, at) + junk + text.slice(at + 1),
      text.slice(0, at),
    ]);
    // Some edits still parse (a digit inside a name); then the load must be exactly what the file says.
    return { bytes: joinSafetensors(broken, b.raw.data), expect: { must: 'either' } };
  },
  notAnObject: (b) => ({ bytes: joinSafetensors(pick(['[]', 'null', '5', '"x"', 'true', '[{}]']), b.raw.data), expect: FILE_ERR }),
  entryNotAnObject: (b) => {
    const r = clone(b);
    r.header[pick(tensorNames(r))] = pick([5, null, [], 'F32', true]);
    return { bytes: joinSafetensors(r.header, r.data), expect: FILE_ERR };
  },
  offsets: (b) => {
    const r = clone(b);
    const name = pick(nonEmpty(r));
    const [begin, end] = r.header[name].data_offsets as [number, number];
    const size = end - begin,
      s = int(1, 8);
    const variant = pick(['outOfRange', 'overlap', 'reversed', 'gapped', 'negative', 'fraction', 'string', 'three', 'one']);
    r.header[name].data_offsets = {
      outOfRange: [r.data.length + s - size, r.data.length + s],
      overlap: begin > 0 ? [begin - Math.min(s, begin), end - Math.min(s, begin)] : [begin + s, end + s],
      reversed: [end, begin],
      gapped: [begin + s, end + s],
      negative: [-s, size - s],
      fraction: [begin + 0.5, end + 0.5],
      string: [String(begin), end],
      three: [begin, end, end],
      one: [begin],
    }[variant];
    return { bytes: joinSafetensors(r.header, r.data), expect: FILE_ERR };
  },
  unknownDtype: (b) => {
    const r = clone(b);
    r.header[pick(tensorNames(r))].dtype = pick([
      'F16',
      'F64',
      'I64',
      'BOOL',
      'f32',
      'F 32',
      '',
      7,
      null,
      ['F32'],
      'toString',
      '__proto__',
    ]);
    return { bytes: joinSafetensors(r.header, r.data), expect: FILE_ERR };
  },
  dtypeRelabelSameBytes: (b) => {
    const r = clone(b);
    const names = nonEmpty(r).filter((k) => ['F32', 'I32'].includes(r.header[k].dtype));
    const name = pick(names);
    r.header[name].dtype = r.header[name].dtype === 'F32' ? 'I32' : 'F32';
    return { bytes: joinSafetensors(r.header, r.data), expect: b.net ? err(DTypeError) : { must: 'load' } };
  },
  dtypeRelabelOtherBytes: (b) => {
    const r = clone(b);
    const name = pick(nonEmpty(r));
    const from = r.header[name].dtype as string;
    r.header[name].dtype = pick(
      ['F32', 'BF16', 'U8', 'I32'].filter((d) => d !== from && !(from === 'F32' && d === 'I32') && !(from === 'I32' && d === 'F32')),
    );
    return { bytes: joinSafetensors(r.header, r.data), expect: FILE_ERR };
  },
  bf16WithWiderShape: (b) => {
    // F32 bytes read as BF16 with the last dimension doubled: a valid file, the wrong tensor.
    const r = clone(b);
    const name = pick(nonEmpty(r).filter((k) => r.header[k].dtype === 'F32'));
    const shape = r.header[name].shape as number[];
    r.header[name] = { ...r.header[name], dtype: 'BF16', shape: [...shape.slice(0, -1), 2 * shape[shape.length - 1]] };
    return { bytes: joinSafetensors(r.header, r.data), expect: b.net ? err(ShapeError) : { must: 'load' } };
  },
  sameCountShape: (b) => {
    const r = clone(b);
    const name = pick(nonEmpty(r));
    r.header[name].shape = sameCountShape(r.header[name].shape);
    return { bytes: joinSafetensors(r.header, r.data), expect: b.net ? err(ShapeError) : { must: 'load' } };
  },
  invalidShape: (b) => {
    const r = clone(b);
    const name = pick(tensorNames(r));
    const shape = r.header[name].shape as number[];
    r.header[name].shape = pick([[-1, ...shape], [...shape, 2], [1.5], ['3'], [2 ** 53, 2 ** 53], [[2]], 'x', null, [numel(shape) + 1]]);
    if (numel(shape) === 0 && Array.isArray(r.header[name].shape) && r.header[name].shape.length === shape.length + 1) return null; // [..,0,2] is still 0 elements
    return { bytes: joinSafetensors(r.header, r.data), expect: FILE_ERR };
  },
  nonFinite: (b) => {
    const r = clone(b);
    const name = pick(nonEmpty(r).filter((k) => r.header[k].dtype === 'F32'));
    const i = int(0, numel(r.header[name].shape) - 1);
    const bits = pick([0x7fc00000, 0xffc00000, 0x7f800001 + int(0, 0x3fffff), 0x7f800000, 0xff800000, 0x7fc00000 | int(1, 0x3fffff)]);
    r.data.writeUInt32LE(bits >>> 0, f32ByteOffset(r, name, i));
    // The reader keeps the bits exactly (NaN payloads too); a model refuses them.
    return { bytes: joinSafetensors(r.header, r.data), expect: b.net ? err(ValueError) : { must: 'load' } };
  },
  metadataWrongType: (b) => {
    const r = clone(b);
    r.header.__metadata__ = pick<unknown>([
      5,
      'pt',
      null,
      [],
      ['a'],
      true,
      { format: 5 },
      { a: 'b', c: null },
      { nested: { x: 'y' } },
      { list: ['x'] },
      { flag: false },
    ]);
    return { bytes: joinSafetensors(r.header, r.data), expect: FILE_ERR };
  },
  oddNames: (b) => {
    // Names are free text: control characters and long names must not break a one-line message.
    const r = clone(b);
    const from = pick(tensorNames(r));
    const to = pick([
      `${from}\n`,
      `line\nbreak ${int(0, 99)}`,
      `\u0000${from}`,
      `\u2028x`,
      'x'.repeat(int(200, 5000)),
      `tab\t${from}`,
      `${from}\u001b[31m`,
    ]);
    r.header[to] = r.header[from];
    delete r.header[from];
    return { bytes: joinSafetensors(r.header, r.data), expect: b.net ? err(ValueError) : { must: 'load' } };
  },
  harmless: (b) => {
    // Key order, spacing and metadata values change nothing about the tensors.
    const r = clone(b);
    const keys = Object.keys(r.header).sort(() => rng() - 0.5);
    const header = Object.fromEntries(keys.map((k) => [k, r.header[k]]));
    header.__metadata__ = { ...(r.header.__metadata__ ?? {}), note: `case ${int(0, 1e6)}`, ü: '✓' };
    return {
      bytes: joinSafetensors(JSON.stringify(header, null, pick([0, 1, 2])) + ' '.repeat(int(0, 9)), r.data),
      expect: { must: 'load' },
    };
  },
};

/** What the file says, decoded independently of the library: name → dtype, shape, raw bytes. */
function oracle(bytes: Buffer): Map<string, { dtype: DType; shape: number[]; bytes: Buffer }> {
  const raw = splitSafetensors(bytes);
  const out = new Map<string, { dtype: DType; shape: number[]; bytes: Buffer }>();
  for (const name of tensorNames(raw)) {
    const e = raw.header[name];
    out.set(name, {
      dtype: e.dtype.toLowerCase() as DType,
      shape: e.shape,
      bytes: raw.data.subarray(e.data_offsets[0], e.data_offsets[1]),
    });
  }
  return out;
}

const oneLine = (msg: string) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(msg) && msg.length < 2000;

async function runCase(b: Base, m: Mutant, path: string): Promise<string | null> {
  writeFileSync(path, m.bytes);
  if (b.net) {
    using model = new Net(b.net.shapes, 2);
    const before = snapshot(model);
    const outcome = await loadWeights(path, model, { strict: true }).then(
      () => null,
      (e: unknown) => e,
    );
    if (outcome === null) {
      if (m.expect.must === 'error') return `loaded, expected ${m.expect.cls.name}`;
      return snapshot(model).equals(b.net.want) ? null : 'loaded but the weights differ from the file';
    }
    if (!(outcome instanceof MvdError)) return `untyped error ${String(outcome)}`;
    if (!oneLine(outcome.message)) return `message is not one printable line: ${JSON.stringify(outcome.message)}`;
    if (m.expect.must === 'load') return `expected a load, got ${outcome}`;
    if (m.expect.must === 'error' && !(outcome instanceof m.expect.cls)) return `expected ${m.expect.cls.name}, got ${outcome}`;
    if (!outcome.message.includes(path)) return `message does not name the file: ${outcome.message}`;
    return snapshot(model).equals(before) ? null : 'failed load changed the model';
  }
  const outcome = await loadSafetensors(path).then(
    (r) => r,
    (e: unknown) => e,
  );
  if (outcome instanceof Error) {
    if (!(outcome instanceof SafetensorsError)) return `expected a SafetensorsError, got ${outcome}`;
    if (!oneLine(outcome.message)) return `message is not one printable line: ${JSON.stringify(outcome.message)}`;
    if (m.expect.must === 'load') return `expected a load, got ${outcome}`;
    return outcome.message.includes(path) ? null : `message does not name the file: ${outcome.message}`;
  }
  const { tensors } = outcome as Awaited<ReturnType<typeof loadSafetensors>>;
  try {
    if (m.expect.must === 'error') return `loaded, expected ${m.expect.cls.name}`;
    const want = oracle(m.bytes);
    if (tensors.size !== want.size) return `loaded ${tensors.size} tensors, the file has ${want.size}`;
    for (const [name, w] of want) {
      const got = tensors.get(name);
      if (!got || got.dtype !== w.dtype || got.shape.join() !== w.shape.join())
        return `'${name}' loaded as ${got}, the file says ${w.dtype} [${w.shape}]`;
      const a = got.toArraySync();
      if (!Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(w.bytes)) return `'${name}' bytes differ from the file`;
    }
    return null;
  } finally {
    for (const x of tensors.values()) x.dispose();
  }
}

t.test(`${CASES} mutated checkpoints: typed error or bit-identical load (seed ${SEED})`, async (t) => {
  const bases = [
    await netBase(
      'net-a',
      [
        ['patch_embed.proj.weight', [4, 3, 2, 2]],
        ['blocks.0.attn.qkv.weight', [12, 4]],
        ['blocks.0.attn.qkv.bias', [12]],
        ['blocks.0.norm1.weight', [4]],
        ['head.weight', [3, 4]],
        ['head.bias', [3]],
      ],
      { format: 'pt' },
    ),
    await netBase(
      'net-b',
      [
        ['blocks.0.mlp.fc1.weight', [8, 4]],
        ['blocks.0.mlp.fc1.bias', [8]],
        ['norm.weight', [4]],
        ['norm.bias', [4]],
      ],
      {},
    ),
    await mixedBase(),
  ];
  // The unmutated files load: the baseline every mutation departs from.
  for (const b of bases)
    t.equal(await runCase(b, { bytes: b.bytes, expect: { must: 'load' } }, join(dir, 'case.safetensors')), null, `${b.name} loads`);
  const names = Object.keys(mutators);
  const ran = new Map(names.map((n) => [n, 0]));
  const outcomes = { error: 0, load: 0 };
  const failures: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < CASES; i++) {
    const b = bases[i % bases.length],
      name = names[Math.floor(i / bases.length) % names.length];
    const m = mutators[name](b);
    if (!m) continue;
    ran.set(name, ran.get(name)! + 1);
    const path = join(dir, 'case.safetensors');
    const problem = await runCase(b, m, path);
    if (problem) failures.push(`seed ${SEED} case ${i} ${name} on ${b.name}: ${problem}`);
    else outcomes[m.expect.must === 'load' ? 'load' : 'error']++;
  }
  const s = (performance.now() - t0) / 1000;
  t.comment(`${CASES} cases in ${s.toFixed(1)} s: ${outcomes.error} typed errors, ${outcomes.load} exact loads`);
  t.same(failures.slice(0, 10), [], `${failures.length} failures`);
  for (const [n, c] of ran) t.ok(c >= 100, `${n}: ${c} cases`);
});

// The CLI: a bad checkpoint ends `mvd extract` with exit code 1 and one line on stderr, no output.
// (The line starts `mvd: ` or `mvd extract: `, whichever the CLI's error printer uses.)
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
t.test('mvd extract refuses bad checkpoints in one line, exit code 1', async (t) => {
  const enc = new VisionTransformer(videoVit('tiny', { frames: 2, size: 32 }), { finalNorm: true, seed: 1 });
  const good = join(dir, 'enc.safetensors');
  await saveWeights(good, enc);
  enc.dispose();
  const clip = join(dir, 'clip.safetensors');
  using c = Tensor.fromArray(
    Float32Array.from({ length: 3 * 2 * 32 * 32 }, (_, i) => Math.sin(i)),
    [3, 2, 32, 32],
  );
  await saveSafetensors(clip, { clip: c });
  const raw = splitSafetensors(readFileSync(good));
  const edit = (f: (r: RawSafetensors) => void) => {
    const r = { header: structuredClone(raw.header), data: Buffer.from(raw.data) };
    f(r);
    return joinSafetensors(r.header, r.data);
  };
  const cases: [string, Buffer | null, RegExp][] = [
    ['good (control)', null, /^$/],
    [
      'transposed qkv weight',
      edit((r) => {
        r.header['blocks.0.attn.qkv.weight'].shape = [128, 384];
      }),
      /^mvd[^:]*: ShapeError: .*blocks\.0\.attn\.qkv\.weight: \[128,384\] vs \[384,128\]/,
    ],
    [
      'I32 relabel',
      edit((r) => {
        r.header['blocks.1.mlp.fc2.weight'].dtype = 'I32';
      }),
      /^mvd[^:]*: DTypeError: .*blocks\.1\.mlp\.fc2\.weight: i32 vs f32/,
    ],
    ['header length one short', shiftHeaderLength(readFileSync(good), -1), /^mvd[^:]*: SafetensorsError: .*data section/],
    [
      'NaN weight',
      edit((r) => {
        r.data.writeFloatLE(NaN, f32ByteOffset(r, 'patch_embed.proj.weight', 5));
      }),
      /^mvd[^:]*: ValueError: .*'patch_embed\.proj\.weight' .*NaN or Inf/,
    ],
    ['truncated', readFileSync(good).subarray(0, 3000), /^mvd[^:]*: SafetensorsError: .*truncated/],
  ];
  for (const [name, bytes, re] of cases) {
    const ck = bytes ? join(dir, `cli-${name.replace(/\W+/g, '-')}.safetensors`) : good;
    if (bytes) writeFileSync(ck, bytes);
    const out = join(dir, `feats-${name.replace(/\W+/g, '-')}.safetensors`);
    const r = spawnSync(
      process.execPath,
      [cli, 'extract', '--checkpoint', ck, '--model', 'tiny', '--frames', '2', '--size', '32', '--input', clip, '--out', out],
      { encoding: 'utf8', timeout: 60_000 },
    );
    t.equal(r.signal, null, `${name}: no signal`);
    if (!bytes) {
      t.equal(r.status, 0, `${name}: exit 0 (${r.stderr.trim()})`);
      t.ok(existsSync(out), `${name}: features written`);
      continue;
    }
    t.equal(r.status, 1, `${name}: exit code 1`);
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${name}: one line on stderr`);
    t.match(r.stderr, re, `${name}: names the problem`);
    t.notOk(existsSync(out), `${name}: no features written`);
  }
});
