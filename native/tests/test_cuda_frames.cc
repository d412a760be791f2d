// The frame ops' CUDA launchers against the CPU op: they share its tap, interpolation and
// normalisation functions, so every byte and float must match, on awkward sizes, with poisoned
// outputs, under several thread schedules (the emulator) or twice (a GPU). CUDA runtime API only,
// so the same file runs on a device.
#if MVD_SIMT || MVD_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstring>

#include "../ops/frames/frames.h"
#include "check.h"
#include "cuda_harness.h"

using namespace mvd;
using namespace mvdtest;

namespace {

using Bytes = std::vector<std::vector<uint8_t>>;

// As under_schedules, for byte outputs (carried through the float comparison as raw bits).
std::vector<uint8_t> bytes_of(const std::vector<float>& f, size_t n) {
  std::vector<uint8_t> b(n);
  if (n) std::memcpy(b.data(), f.data(), n);
  return b;
}
std::vector<float> as_floats(const std::vector<uint8_t>& b) {
  std::vector<float> f((b.size() + 3) / 4, 0.f);
  if (!b.empty()) std::memcpy(f.data(), b.data(), b.size());
  return f;
}

std::vector<uint8_t> rand_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = (uint8_t)(g() & 255);
  return v;
}

}  // namespace

MVD_TEST(cuda_frames_resize_crop_matches_cpu) {
  struct S {
    int64_t T, H, W, C, x, y, w, h, oh, ow;
  };
  for (S s : {S{2, 9, 13, 3, 2, 1, 10, 7, 5, 17}, S{1, 9, 13, 3, 0, 0, 13, 9, 31, 33}, S{1, 1, 1, 1, 0, 0, 1, 1, 3, 3},
              S{3, 40, 30, 3, 3, 5, 27, 33, 16, 16}}) {
    ResizeCropArgs a;
    a.T = s.T;
    a.H = s.H;
    a.W = s.W;
    a.C = s.C;
    a.x = s.x;
    a.y = s.y;
    a.w = s.w;
    a.h = s.h;
    a.out_h = s.oh;
    a.out_w = s.ow;
    const std::vector<uint8_t> in = rand_bytes((size_t)(s.T * s.H * s.W * s.C), 5 + s.W);
    const size_t n_out = (size_t)(s.T * s.oh * s.ow * s.C);
    std::vector<uint8_t> want(n_out, 0xAB);
    resize_crop_cpu(in.data(), want.data(), a);
    Dev<uint8_t> din(in);
    const std::string tag = "resizeCrop " + std::to_string(s.w) + "x" + std::to_string(s.h) + "->" +
                            std::to_string(s.ow) + "x" + std::to_string(s.oh);
    // Two poison values: a byte the kernel forgot to write cannot match both runs and the CPU op.
    for (uint8_t poison : {0x00, 0xFF}) {
      const std::vector<float> got = under_schedules(tag, [&] {
        Dev<uint8_t> out(std::vector<uint8_t>(n_out, poison));
        resize_crop_cuda(din.p, out.p, a, nullptr);
        return Outs{as_floats(out.get())};
      })[0];
      expect_bits(tag, bytes_of(got, n_out), want);
    }
  }
}

MVD_TEST(cuda_frames_flip_matches_cpu) {
  struct S {
    int64_t T, H, W, C;
  };
  for (S s : {S{2, 3, 33, 3}, S{1, 1, 1, 3}, S{3, 5, 160, 1}}) {
    const size_t n = (size_t)(s.T * s.H * s.W * s.C);
    const std::vector<uint8_t> in = rand_bytes(n, 17 + s.W);
    std::vector<uint8_t> want(n);
    flip_frames_cpu(in.data(), want.data(), s.T, s.H, s.W, s.C);
    Dev<uint8_t> din(in);
    for (uint8_t poison : {0x00, 0xFF}) {
      const std::vector<float> got = under_schedules("flipFrames", [&] {
        Dev<uint8_t> out(std::vector<uint8_t>(n, poison));
        flip_frames_cuda(din.p, out.p, s.T, s.H, s.W, s.C, nullptr);
        return Outs{as_floats(out.get())};
      })[0];
      expect_bits("flipFrames W=" + std::to_string(s.W), bytes_of(got, n), want);
    }
  }
}

MVD_TEST(cuda_frames_to_clip_matches_cpu) {
  struct S {
    int64_t B, T, H, W, C;
  };
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  for (S s : {S{3, 2, 5, 7, 3}, S{1, 1, 1, 33, 1}, S{2, 3, 4, 31, 2}}) {
    const size_t n = (size_t)(s.B * s.T * s.H * s.W * s.C);
    const std::vector<uint8_t> in = rand_bytes(n, 29 + s.W);
    std::vector<float> want = poisoned(n);
    frames_to_clip_cpu(in.data(), want.data(), s.B, s.T, s.H, s.W, s.C, mean, stdv);
    Dev<uint8_t> din(in);
    const std::vector<float> got = under_schedules("framesToClip", [&] {
      Dev<float> out(poisoned(n));
      frames_to_clip_cuda(din.p, out.p, s.B, s.T, s.H, s.W, s.C, mean, stdv, nullptr);
      return Outs{out.get()};
    })[0];
    expect_bits("framesToClip C=" + std::to_string(s.C), got, want);
  }
}

#endif  // MVD_SIMT || MVD_HAVE_CUDA
