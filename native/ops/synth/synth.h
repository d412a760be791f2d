// Renderer of the synthetic "spatial vs temporal" clips (lib/data/synthetic.ts). One textured
// object moves over a static cluttered background: its shape x texture is the appearance label
// (visible in any single frame), its velocity/rotation is the motion label (needs two frames).
// Everything random about the background comes from `seed`, so a clip is a pure function of
// the parameters; the JS side draws the object parameters from (dataset seed, index).
#pragma once
#include <cstdint>

namespace mvd {

enum SynthShape : int32_t { kSynthDisc = 0, kSynthSquare = 1, kSynthTriangle = 2, kSynthCross = 3 };
enum SynthTexture : int32_t { kSynthStripes = 0, kSynthChecker = 1, kSynthDots = 2, kSynthRings = 3 };

struct SynthClipParams {
  int32_t T = 16, H = 112, W = 112;
  uint32_t seed = 0;    // background: gradient, clutter blobs, static grain
  int32_t shape = 0;    // SynthShape
  int32_t texture = 0;  // SynthTexture
  uint8_t color_a[3] = {255, 255, 255};
  uint8_t color_b[3] = {0, 0, 0};
  float cx = 56, cy = 56;  // object centre at frame 0, pixels
  float vx = 0, vy = 0;    // pixels per frame
  float radius = 20;       // pixels
  float angle = 0;         // orientation at frame 0, radians
  float omega = 0;         // radians per frame (positive = clockwise on screen, y points down)
  float period = 6;        // texture period, pixels
  int32_t clutter = 12;    // background blobs
  float grain = 6;         // amplitude of the static per-pixel grain, in u8 levels
};

// Throws std::invalid_argument on sizes that are not positive or too large.
void synth_validate(const SynthClipParams& p);
// Writes [T,H,W,3] u8 RGB into out (T*H*W*3 bytes).
void render_synth_clip_cpu(const SynthClipParams& p, uint8_t* out);

}  // namespace mvd
