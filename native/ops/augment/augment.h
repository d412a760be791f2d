// Fine-tuning augmentation pixel work (SPEC §4.4): RandAugment on u8 clips, random erasing on the
// normalised float clip, and the Mixup/CutMix blend of a float batch. The random choices are made
// in TypeScript from the seeded Rng (lib/data/augment.ts); these kernels only apply them, so a
// seed gives the same pixels on every thread count.
//
// RandAugment follows timm's `rand-m7-n4-mstd0.5-inc1` op definitions, which are PIL operations
// (ImageOps, ImageEnhance, Image.transform); the formulas are written at each op in
// augment_cpu.cc. Video convention: the same ops with the same arguments apply to every frame of a
// clip, but statistics (histograms, means) are each frame's own, as when PIL is called per frame.
#pragma once
#include <cstdint>

namespace mvd {

// Op codes; the order is timm's increasing op list (`inc1`), as in lib/data/augment.ts.
enum class RandAugOp : int32_t {
  AutoContrast = 0,
  Equalize = 1,
  Invert = 2,
  Rotate = 3,       // value: degrees, counter-clockwise (PIL)
  Posterize = 4,    // value: bits kept (0..8)
  Solarize = 5,     // value: threshold (0..256)
  SolarizeAdd = 6,  // value: amount added below 128 (0..255)
  Color = 7,        // value: enhance factor
  Contrast = 8,
  Brightness = 9,
  Sharpness = 10,
  ShearX = 11,  // value: shear factor
  ShearY = 12,
  TranslateX = 13,  // value: fraction of the width (timm's TranslateXRel)
  TranslateY = 14,  // value: fraction of the height
  Count = 15
};

struct RandAugStep {
  int32_t op = 0;
  double value = 0;
};

enum class Interp : int32_t { Nearest = 0, Bilinear = 1, Bicubic = 2 };

struct RandAugArgs {
  int64_t N = 1, T = 1, H = 1, W = 1, C = 3;  // clips [N,T,H,W,C]
  Interp interp = Interp::Bicubic;            // geometric ops (SPEC §4.4: bicubic)
  uint8_t fill[4] = {128, 128, 128, 128};     // timm's fill for pixels mapped from outside
  int threads = 0;                            // 0: the OpenMP default; 1: the calling thread only
};

// in, out: [N,T,H,W,C] u8 (in == out allowed). Clip n gets steps[offsets[n] .. offsets[n+1]) in
// order. C must be 1..4. Steps with an unknown op code throw std::invalid_argument (validate first).
void rand_augment_cpu(const uint8_t* in, uint8_t* out, const RandAugArgs& a, const RandAugStep* steps,
                      const int64_t* offsets);
// Throws std::invalid_argument naming the first bad step (op code or value out of range).
void rand_augment_validate(const RandAugStep* steps, int64_t n);

// One erased rectangle of clip `clip`: rows [top, top+h), columns [left, left+w), every frame and
// channel; values are N(0,1) noise from the counter-based generator (random.h) keyed by `seed`, so
// element (c, t, i, j) of the box depends only on (seed, c, t, i, j).
struct EraseBox {
  int64_t clip = 0, top = 0, left = 0, h = 0, w = 0;
  uint64_t seed = 0;
};
// x: [B,C,T,H,W] f32, erased in place. Boxes must lie inside the frame (validate in the binding).
void random_erase_cpu(float* x, int64_t B, int64_t C, int64_t T, int64_t H, int64_t W, const EraseBox* boxes,
                      int64_t n);

// Mixup / CutMix with the batch's mirror image as partner (timm's mode 'batch': x.flip(0)).
// in, out: [B, S] f32 with S = C·T·H·W (out must not alias in). Mixup (box == nullptr):
// out[b] = lam·in[b] + (1 − lam)·in[B−1−b]. CutMix (box = {y0, y1, x0, x1}): out[b] = in[b] except
// rows [y0,y1) × columns [x0,x1) of every frame and channel, taken from in[B−1−b].
void mix_batch_cpu(const float* in, float* out, int64_t B, int64_t C, int64_t T, int64_t H, int64_t W, double lam,
                   const int64_t* box);

}  // namespace mvd
