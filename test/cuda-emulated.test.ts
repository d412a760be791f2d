// Tensors on cuda:0 through the addon's CUDA runtime layer: the emulated addon in CI ("device"
// memory is host memory driven through the CUDA runtime API), a real GPU under npm run test:gpu.
import { fileURLToPath } from 'node:url';
import { childChecks, isCudaChild, runInCudaChild } from './helpers/cuda-child.js';

const here = fileURLToPath(import.meta.url);

async function child(): Promise<void> {
  const { Tensor, gpuInfo, randomErase, DeviceError } = await import('../lib/index.js');
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));
  const throwsTyped = (fn: () => unknown, cls: Function, re: RegExp): string => {
    try {
      fn();
      return 'did not throw';
    } catch (e) {
      if (!(e instanceof cls)) return `threw ${(e as Error).name}: ${(e as Error).message}`;
      if (!re.test((e as Error).message)) return `message '${(e as Error).message}' does not match ${re}`;
      return '';
    }
  };
  await childChecks(async (check) => {
    const info = gpuInfo();
    check(
      'gpuInfo reports a device (the emulator unless MVD_TEST_CUDA=native)',
      info.devices.length >= 1 && (process.env.MVD_TEST_CUDA === 'native' || info.devices[0].name === 'mvd SIMT emulator'),
      JSON.stringify(info),
    );

    const data = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 100);
    const d = Tensor.fromArray(data, [10, 100], { device: 'cuda:0' });
    check('fromArray on cuda:0 keeps the device', d.device === 'cuda:0', d.device);
    check('toArray from cuda:0', same(await d.toArray(), data));
    check('toArraySync from cuda:0', same(d.toArraySync(), data));

    const cpu = Tensor.fromArray(data, [10, 100]);
    const up = cpu.to('cuda');
    const back = up.to('cpu');
    check('cpu -> cuda:0 -> cpu round trip', up.device === 'cuda:0' && back.device === 'cpu' && same(await back.toArray(), data));
    for (const arr of [new Uint8Array([0, 7, 255]), new Int32Array([-5, 2 ** 30, 3]), new Uint16Array([0x3f80, 1, 0xffff])]) {
      const t = Tensor.fromArray(arr, [3], { device: 'cuda:0' });
      check(`${t.dtype} round trip`, same(await t.to('cpu').toArray(), arr));
    }

    const c = d.slice(2, 4).clone();
    check('clone of a view on the device', c.device === 'cuda:0' && same(await c.toArray(), data.subarray(200, 400)));
    const e = Tensor.empty([2, 100], { device: 'cuda:0' });
    e.assign(d.slice(5, 7));
    check('assign on the device', same(await e.toArray(), data.subarray(500, 700)));
    d.slice(0, 2).assign(d.slice(1, 3)); // overlapping views of one storage
    const expect = new Float32Array(data);
    expect.copyWithin(0, 100, 300);
    check('assign between overlapping views', same(await d.toArray(), expect));
    const host = Tensor.empty([2, 100]);
    host.assign(c);
    check('assign across devices (cuda -> cpu)', same(await host.toArray(), data.subarray(200, 400)));
    c.assign(cpu.slice(0, 2));
    check('assign across devices (cpu -> cuda)', same(await c.toArray(), data.subarray(0, 200)));

    // randomErase (an augmentation, CPU only by design) stands for every op without a launcher.
    const clip = Tensor.fromArray(new Float32Array(3 * 2 * 4 * 4), [1, 3, 2, 4, 4], { device: 'cuda:0' });
    const why = throwsTyped(() => randomErase(clip, []), DeviceError, /no CUDA implementation of randomErase/);
    check('an op without a CUDA implementation is a DeviceError', why === '', why);
    const past = `cuda:${info.devices.length}`;
    const why2 = throwsTyped(() => Tensor.empty([2], { device: past as 'cuda:0' }), DeviceError, new RegExp(`${past} does not exist`));
    check('a device past the last is a DeviceError', why2 === '', why2);
    for (const t of [d, cpu, up, back, c, e, host, clip]) t.dispose();
  });
}

if (isCudaChild) await child();
else await runInCudaChild(here, 'tensors on cuda:0 through the addon');
