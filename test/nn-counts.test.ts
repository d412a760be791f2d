// Parameter and multiply-accumulate counts against SPEC §2 and §3.4.
import t from 'tap';
import { videoVit, encoderParams, encoderMacs, mvdStudentParams, mvdDecoderFor, type Preset } from '../lib/nn/config.js';

const M = (x: number) => Math.round(x / 1e4) / 100; // millions, 2 decimals
const G = (x: number) => Math.round(x / 1e8) / 10; // giga, 1 decimal

t.test('SPEC §2 encoder parameters and MACs per 16×224² view', (t) => {
  const expect: [Preset, number, number, number][] = [
    ['small', 21.88, 22.03, 56.9],
    ['base', 86.23, 86.53, 180.3],
    ['large', 303.86, 304.27, 596.8],
    ['huge', 631.6, 632.12, 1191.0],
  ];
  for (const [p, params, withHead, macs] of expect) {
    const c = videoVit(p);
    const n = encoderParams(c, 400);
    t.equal(M(n.backbone), params, `${p} backbone ${n.backbone}`);
    t.equal(M(n.withHead), withHead, `${p} with K400 head ${n.withHead}`);
    t.equal(G(encoderMacs(c)), macs, `${p} MACs ${encoderMacs(c)}`);
  }
  t.end();
});

t.test('SPEC §3.4 student + decoders (trainable)', (t) => {
  const expect: [Preset, number, number][] = [
    ['small', 768, 29.87],
    ['small', 1024, 30.06],
    ['base', 768, 116.94],
    ['base', 1024, 117.34],
    ['large', 1024, 331.18],
    ['huge', 1280, 713.66],
  ];
  for (const [p, td, params] of expect) {
    const n = mvdStudentParams(videoVit(p), mvdDecoderFor(p, td));
    t.equal(M(n), params, `${p} ← ${td}: ${n}`);
  }
  t.end();
});
