// The whole MVD co-teaching recipe on cuda:0, unchanged: with the default device set, the student,
// both teachers, the optimizer and the batches live on the device, and three training steps give
// the CPU run's losses (to the bf16 rounding of GEMM/attention operands). Emulated addon in CI
// (≈ 10 s), a real GPU under npm run test:gpu.
import { fileURLToPath } from 'node:url';
import { childChecks, isCudaChild, runInCudaChild } from './helpers/cuda-child.js';

const here = fileURLToPath(import.meta.url);

async function threeSteps(device: string): Promise<Record<string, number>[]> {
  const { setDefaultDevice } = await import('../lib/tensor.js');
  const { SyntheticDataset } = await import('../lib/data/synthetic.js');
  const { BatchSampler } = await import('../lib/methods/batch.js');
  const { distillRecipe } = await import('../lib/methods/distill.js');
  const { train } = await import('../lib/methods/train.js');
  const { makeTeacher } = await import('../lib/nn/mvd.js');
  setDefaultDevice(device);
  const data = new BatchSampler(new SyntheticDataset({ seed: 1, count: 8, frames: 4, size: 32 }), 2, 1);
  const teachers = {
    img: makeTeacher('img', { preset: 'tiny', frames: 4, size: 32 }),
    vid: makeTeacher('vid', { preset: 'tiny', frames: 4, size: 32 }),
  };
  const mvd = distillRecipe(data, { student: 'tiny', frames: 4, size: 32, teachers, maskRatio: 0.5, seed: 3 });
  const devices = new Set(mvd.model.namedParameters().map(([, p]) => p.value.device));
  if (devices.size !== 1 || !devices.has(device as never)) throw new Error(`student parameters on ${[...devices]} instead of ${device}`);
  const h = (await train(mvd, { lr: 3e-3, minLr: 3e-3, warmupSteps: 0, weightDecay: 0.05, steps: 3 })).history;
  mvd.dispose();
  teachers.img.dispose();
  teachers.vid.dispose();
  return h.map((r) => r.losses);
}

async function child(): Promise<void> {
  await childChecks(async (check) => {
    const gpu = await threeSteps('cuda:0');
    const cpu = await threeSteps('cpu');
    for (let s = 0; s < cpu.length; s++)
      for (const k of ['loss', 'img', 'vid']) {
        const rel = Math.abs(gpu[s][k] - cpu[s][k]) / Math.abs(cpu[s][k]);
        check(`step ${s + 1} ${k}: cuda ${gpu[s][k].toFixed(5)} vs cpu ${cpu[s][k].toFixed(5)}`, rel < 5e-3, `relative difference ${rel}`);
      }
    check('the loss goes down on the device', gpu[2].loss < 0.8 * gpu[0].loss, JSON.stringify(gpu));
  });
}

if (isCudaChild) await child();
else await runInCudaChild(here, 'MVD distillation steps on cuda:0 match the CPU run', 600_000);
