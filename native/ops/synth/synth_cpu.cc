#include "synth.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace mvd {
namespace {

// splitmix32-style integer hash: the background must be identical on every platform and thread
// count, so it only depends on integer arithmetic of (seed, counter).
inline uint32_t mix32(uint32_t x) {
  x += 0x9e3779b9u;
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

struct Stream {
  uint32_t state;
  uint32_t next() {
    state = mix32(state);
    return state;
  }
  float unit() { return (float)(next() >> 8) * (1.0f / 16777216.0f); }
  float range(float a, float b) { return a + (b - a) * unit(); }
};

struct Blob {
  int32_t kind;  // 0 ellipse, 1 rectangle
  int32_t texture;
  float cx, cy, rx, ry, c, s, period;
  float a[3], b[3];
};

// Texture value in {0,1} at object-local pixel coordinates (u, v).
inline int texture_at(int32_t texture, float u, float v, float period) {
  float inv = 1.0f / period;
  switch (texture) {
    case kSynthStripes:
      return ((int)std::floor((u + v) * inv * 0.7071f)) & 1;
    case kSynthChecker:
      return ((int)std::floor(u * inv) + (int)std::floor(v * inv)) & 1;
    case kSynthDots: {
      float fu = u * inv - std::floor(u * inv) - 0.5f, fv = v * inv - std::floor(v * inv) - 0.5f;
      return fu * fu + fv * fv < 0.09f ? 1 : 0;
    }
    default:
      return ((int)std::floor(std::sqrt(u * u + v * v) * inv)) & 1;
  }
}

// Shape test on coordinates normalised by the radius.
inline bool inside_shape(int32_t shape, float u, float v) {
  switch (shape) {
    case kSynthDisc:
      return u * u + v * v <= 1.0f;
    case kSynthSquare:
      return std::fabs(u) <= 0.8f && std::fabs(v) <= 0.8f;
    case kSynthTriangle:
      return v <= 0.6f && v >= -1.0f && std::fabs(u) <= (v + 1.0f) * 0.6f;
    default:
      return (std::fabs(u) <= 0.3f && std::fabs(v) <= 0.95f) || (std::fabs(v) <= 0.3f && std::fabs(u) <= 0.95f);
  }
}

inline uint8_t to_u8(float x) { return (uint8_t)(x <= 0.f ? 0 : x >= 255.f ? 255 : (int)(x + 0.5f)); }

}  // namespace

void synth_validate(const SynthClipParams& p) {
  if (p.T <= 0 || p.H <= 0 || p.W <= 0)
    throw std::invalid_argument("T, H and W must be positive (got " + std::to_string(p.T) + ", " + std::to_string(p.H) +
                                ", " + std::to_string(p.W) + ")");
  if ((int64_t)p.T * p.H * p.W > (int64_t)1 << 31)
    throw std::invalid_argument("clip of " + std::to_string((int64_t)p.T * p.H * p.W) + " pixels is too large");
  if (!(p.radius > 0) || !(p.period > 0)) throw std::invalid_argument("radius and period must be positive");
  if (p.shape < 0 || p.shape > 3 || p.texture < 0 || p.texture > 3)
    throw std::invalid_argument("shape and texture must be in 0..3");
  if (p.clutter < 0 || p.clutter > 256) throw std::invalid_argument("clutter must be in 0..256");
}

void render_synth_clip_cpu(const SynthClipParams& p, uint8_t* out) {
  synth_validate(p);
  const int64_t H = p.H, W = p.W, T = p.T;
  const float side = (float)std::min(H, W);
  Stream rs{p.seed ^ 0x5bd1e995u};

  // Background: a diagonal gradient between two colours plus a low-frequency wave, so global
  // colour statistics vary from clip to clip independently of the labels.
  float g0[3], g1[3];
  for (int c = 0; c < 3; ++c) {
    g0[c] = rs.range(30, 225);
    g1[c] = rs.range(30, 225);
  }
  const float wave_f = rs.range(1.0f, 3.0f) * 6.2831853f / side, wave_phase = rs.range(0, 6.2831853f);
  const float wave_amp = rs.range(5, 20);

  // Clutter: smaller textured blobs (same textures as the objects) so that "which texture is
  // present" alone does not give the appearance label; the object's shape and size matter.
  std::vector<Blob> blobs((size_t)p.clutter);
  for (auto& b : blobs) {
    b.kind = (int32_t)(rs.next() & 1);
    b.texture = (int32_t)(rs.next() & 3);
    b.cx = rs.range(0, (float)W);
    b.cy = rs.range(0, (float)H);
    b.rx = rs.range(0.04f, 0.12f) * side;
    b.ry = rs.range(0.04f, 0.12f) * side;
    float ang = rs.range(0, 3.14159265f);
    b.c = std::cos(ang);
    b.s = std::sin(ang);
    b.period = rs.range(2.5f, 6.0f);
    for (int c = 0; c < 3; ++c) {
      b.a[c] = rs.range(0, 255);
      b.b[c] = rs.range(0, 255);
    }
  }

  // The background is static, so it is rendered once and copied under the object per frame.
  std::vector<uint8_t> bg((size_t)(H * W * 3));
#pragma omp parallel for schedule(static)
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t x = 0; x < W; ++x) {
      float px = (float)x + 0.5f, py = (float)y + 0.5f;
      float t = (px + py) / (float)(W + H);
      float wave = wave_amp * std::sin(wave_f * (px * 0.8f + py * 0.6f) + wave_phase);
      float rgb[3];
      for (int c = 0; c < 3; ++c) rgb[c] = g0[c] + (g1[c] - g0[c]) * t + wave;
      for (const auto& b : blobs) {
        float dx = px - b.cx, dy = py - b.cy;
        float u = b.c * dx + b.s * dy, v = -b.s * dx + b.c * dy;
        bool in = b.kind == 0 ? (u * u) / (b.rx * b.rx) + (v * v) / (b.ry * b.ry) <= 1.f
                              : std::fabs(u) <= b.rx && std::fabs(v) <= b.ry;
        if (!in) continue;
        const float* col = texture_at(b.texture, u, v, b.period) ? b.a : b.b;
        for (int c = 0; c < 3; ++c) rgb[c] = col[c];
      }
      uint32_t h = mix32(p.seed * 0x27d4eb2fu ^ mix32((uint32_t)(y * W + x)));
      float grain = p.grain * ((float)(h & 0xffff) * (2.0f / 65535.0f) - 1.0f);
      uint8_t* o = &bg[(size_t)((y * W + x) * 3)];
      for (int c = 0; c < 3; ++c) o[c] = to_u8(rgb[c] + grain);
    }
  }

  const float inv_r = 1.0f / p.radius;
  // The bounding radius of every shape is below sqrt(2)*0.95*r; used to skip pixels cheaply.
  const float reach = 1.4f * p.radius + 1.0f;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t y = 0; y < H; ++y) {
      const float cx = p.cx + p.vx * (float)t, cy = p.cy + p.vy * (float)t;
      const float ang = p.angle + p.omega * (float)t;
      const float c = std::cos(ang), s = std::sin(ang);
      uint8_t* row = out + (size_t)(((t * H) + y) * W * 3);
      const uint8_t* brow = &bg[(size_t)(y * W * 3)];
      std::copy(brow, brow + W * 3, row);
      float py = (float)y + 0.5f;
      if (std::fabs(py - cy) > reach) continue;
      int64_t x0 = std::max<int64_t>(0, (int64_t)std::floor(cx - reach));
      int64_t x1 = std::min<int64_t>(W, (int64_t)std::ceil(cx + reach));
      for (int64_t x = x0; x < x1; ++x) {
        float dx = (float)x + 0.5f - cx, dy = py - cy;
        // Rotating the sampling frame by -angle rotates the drawn object by +angle.
        float u = c * dx + s * dy, v = -s * dx + c * dy;
        if (!inside_shape(p.shape, u * inv_r, v * inv_r)) continue;
        const uint8_t* col = texture_at(p.texture, u, v, p.period) ? p.color_a : p.color_b;
        uint8_t* o = row + x * 3;
        o[0] = col[0];
        o[1] = col[1];
        o[2] = col[2];
      }
    }
  }
}

}  // namespace mvd
