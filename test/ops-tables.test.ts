import t from 'tap';
import { ValueError } from '../lib/index.js';
import { sincos3dTable, sinusoid1dTable, sincos2dTable } from '../lib/ops/tables.js';

const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
const close = (got: number, want: number) => Math.abs(got - want) <= 1e-5 * Math.abs(want);

// Reference sums and values from SPEC §1.5.
t.test('sincos3dTable reproduces the SPEC sums and token 197', async (t) => {
  const ref: [number, number][] = [
    [384, 281209.878366],
    [512, 375559.242314],
    [640, 469917.048031],
    [768, 564278.784544],
    [1024, 753007.915899],
    [1280, 941740.722122],
  ];
  for (const [d, want] of ref) {
    const tab = sincos3dTable(d, 8, 14, 14);
    t.same(tab.shape, [1568, d]);
    const a = await tab.toArray();
    t.ok(close(sum(a), want), `d=${d}: ${sum(a)} vs ${want}`);
    if (d === 768) {
      const row = a.subarray(197 * 768);
      t.ok(Math.abs(row[0] - 0.841471) < 1e-6);
      t.ok(Math.abs(row[192] - 0.841471) < 1e-6);
      t.ok(Math.abs(row[193] - 0.806402) < 1e-6);
      t.equal(row[480], 0);
    }
  }
});

t.test('sinusoid1dTable reproduces the SPEC sums (interleaved)', async (t) => {
  const ref: [number, number][] = [
    [384, 122425.857877],
    [512, 163460.932663],
    [640, 204714.511297],
    [768, 245744.989571],
    [1024, 327909.206608],
    [1280, 410130.260018],
  ];
  for (const [d, want] of ref) {
    const a = await sinusoid1dTable(1568, d).toArray();
    t.ok(close(sum(a), want), `d=${d}: ${sum(a)} vs ${want}`);
  }
  const a = await sinusoid1dTable(3, 8).toArray();
  t.ok(Math.abs(a[16] - Math.sin(2)) < 1e-7 && Math.abs(a[17] - Math.cos(2)) < 1e-7);
});

t.test('sincos2dTable reproduces the SPEC sums with a zero cls row', async (t) => {
  for (const [d, want] of [
    [768, 69594.493859],
    [1024, 92849.197918],
    [1280, 116104.113703],
  ]) {
    const tab = sincos2dTable(d, 14, { cls: true });
    t.same(tab.shape, [197, d]);
    const a = await tab.toArray();
    t.ok(close(sum(a), want), `d=${d}: ${sum(a)} vs ${want}`);
    t.ok(
      a.subarray(0, d).every((v) => v === 0),
      'cls row is zero',
    );
  }
  t.same(sincos2dTable(64, 14).shape, [196, 64]);
});

t.test('table argument errors', (t) => {
  t.throws(() => sincos3dTable(760, 8, 14, 14), ValueError);
  t.throws(() => sinusoid1dTable(10, 7), ValueError);
  t.throws(() => sincos2dTable(766, 14), ValueError);
  t.throws(() => sincos2dTable(768, 0), ValueError);
  t.end();
});
