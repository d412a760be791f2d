// One normalised clip from the middle of a video file, as a tensor the encoders take directly
// (`mvd plot similarity --video`): decoding and normalisation live here, not in the command line.
import { Tensor } from '../tensor.js';
import { decodeFrames, probeVideo } from '../data/video.js';
import { denseCentreIndices } from '../data/sampling.js';
import { centreCrop } from '../data/augment.js';
import { framesToClip } from '../ops/frames.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../methods/batch.js';

/** `frames` frames at stride 4 around the middle, short side to `size`, centre crop, ImageNet normalisation: f32 [1,3,T,H,W]. */
export async function decodeCentreClip(path: string, frames: number, size: number): Promise<Tensor<'f32'>> {
  const info = await probeVideo(path);
  const idx = denseCentreIndices(info.frameCount, frames, 4);
  const { resized, crop } = centreCrop(info.width, info.height, size);
  const dec = await decodeFrames(path, idx, { info, resize: resized, crop, outW: size, outH: size });
  using u8 = Tensor.fromArray(dec.data, [1, frames, size, size, 3]);
  return framesToClip(u8, IMAGENET_MEAN, IMAGENET_STD);
}
