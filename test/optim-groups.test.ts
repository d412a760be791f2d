import t from 'tap';
import { Tensor } from '../lib/index.js';
import { Parameter } from '../lib/nn/module.js';
import { buildParamGroups, layerId, skipsDecay } from '../lib/optim/groups.js';
import { cosineLr, scaleLr } from '../lib/optim/schedule.js';

const P = (shape: number[]) => new Parameter(Tensor.empty(shape));

t.test('no-decay rules of SPEC §3.7, including the mask-token quirk', (t) => {
  t.ok(skipsDecay('blocks.0.norm1.weight', P([8])), '1-D');
  t.ok(skipsDecay('blocks.0.mlp.fc1.bias', P([8])), 'bias');
  t.ok(skipsDecay('blocks.0.attn.q_bias', P([8])), 'q_bias is 1-D');
  t.ok(skipsDecay('cls_token', P([1, 1, 8])), 'cls_token by exact name');
  t.ok(skipsDecay('mask_token', P([1, 1, 8])), 'mask_token by exact name');
  t.notOk(skipsDecay('mask_token_img', P([1, 1, 8])), 'mask_token_img is decayed (reference quirk)');
  t.notOk(skipsDecay('blocks.0.attn.qkv.weight', P([24, 8])));
  const groups = buildParamGroups(
    [
      ['a.weight', P([4, 4])],
      ['a.bias', P([4])],
      ['mask_token_vid', P([1, 1, 4])],
      ['pos_embed', new Parameter(Tensor.empty([1, 3, 4]), false)],
    ],
    { weightDecay: 0.05 },
  );
  const byName = Object.fromEntries(groups.map((g) => [g.name, g.params.map(([n]) => n)]));
  t.same(byName, { decay: ['a.weight', 'mask_token_vid'], no_decay: ['a.bias'] }, 'frozen pos_embed excluded');
  t.end();
});

t.test('layer-wise lr decay of SPEC §4.3', (t) => {
  t.equal(layerId('patch_embed.proj.weight', 12), 0);
  t.equal(layerId('blocks.0.attn.qkv.weight', 12), 1);
  t.equal(layerId('blocks.11.mlp.fc2.bias', 12), 12);
  t.equal(layerId('fc_norm.weight', 12), 13);
  t.equal(layerId('head.weight', 12), 13);
  const groups = buildParamGroups(
    [
      ['patch_embed.proj.weight', P([4, 4])],
      ['head.weight', P([2, 4])],
      ['blocks.3.attn.proj.bias', P([4])],
    ],
    { weightDecay: 0.05, layerDecay: 0.75, depth: 12 },
  );
  const emb = groups.find((g) => g.params[0][0] === 'patch_embed.proj.weight')!;
  t.ok(Math.abs(emb.lrScale - 0.75 ** 13) < 1e-12, `embedding scale ${emb.lrScale} ≈ 0.0238`);
  t.equal(groups.find((g) => g.params[0][0] === 'head.weight')!.lrScale, 1);
  const b3 = groups.find((g) => g.params[0][0] === 'blocks.3.attn.proj.bias')!;
  t.equal(b3.weightDecay, 0);
  t.ok(Math.abs(b3.lrScale - 0.75 ** 9) < 1e-12);
  t.end();
});

t.test('warmup from 0 then cosine to min; lr scaling with batch', (t) => {
  const s = { lr: 6e-4, minLr: 4e-4, warmupSteps: 10, totalSteps: 110 };
  t.equal(cosineLr(s, 0), 0);
  t.ok(Math.abs(cosineLr(s, 5) - 3e-4) < 1e-15);
  t.ok(Math.abs(cosineLr(s, 10) - 6e-4) < 1e-15);
  t.ok(Math.abs(cosineLr(s, 60) - 5e-4) < 1e-12, 'halfway through the cosine');
  t.ok(Math.abs(cosineLr(s, 110) - 4e-4) < 1e-15);
  t.ok(Math.abs(scaleLr(1.5e-4, 1024) - 6e-4) < 1e-15, 'SPEC §3.7 S←B: 1.5e-4 × 1024/256');
  t.end();
});
