#include <cstring>
#include <stdexcept>
#include <vector>

#include "../ops/synth/synth.h"
#include "check.h"

using namespace mvd;
using namespace mvdtest;

static std::vector<uint8_t> render(const SynthClipParams& p) {
  std::vector<uint8_t> v((size_t)p.T * p.H * p.W * 3, 7);
  render_synth_clip_cpu(p, v.data());
  return v;
}

// Same parameters give the same bytes; a moving object changes later frames, a static one does not.
MVD_TEST(synth_deterministic_and_moving) {
  SynthClipParams p;
  p.T = 3;
  p.H = 33;
  p.W = 47;
  p.seed = 11;
  p.cx = 20;
  p.cy = 16;
  p.radius = 8;
  p.vx = 3;
  auto a = render(p), b = render(p);
  CHECK(a == b);
  size_t frame = (size_t)p.H * p.W * 3;
  CHECK(std::memcmp(a.data(), a.data() + frame, frame) != 0);
  p.vx = 0;
  auto s = render(p);
  CHECK(std::memcmp(s.data(), s.data() + frame, frame) == 0);
  p.seed = 12;
  CHECK(render(p) != s);
}

// The object's texture colours appear at its centre pixel (disc with a solid-looking big period).
MVD_TEST(synth_object_drawn_at_centre) {
  SynthClipParams p;
  p.T = 1;
  p.H = 40;
  p.W = 40;
  p.cx = 20.5f;
  p.cy = 20.5f;
  p.radius = 10;
  p.period = 1000;
  p.texture = kSynthChecker;
  p.clutter = 0;
  p.grain = 0;
  p.color_a[0] = 1;
  p.color_a[1] = 2;
  p.color_a[2] = 3;
  p.color_b[0] = 200;
  p.color_b[1] = 100;
  p.color_b[2] = 50;
  auto v = render(p);
  const uint8_t* c = &v[(20 * 40 + 20) * 3];
  bool is_a = c[0] == 1 && c[1] == 2 && c[2] == 3, is_b = c[0] == 200 && c[1] == 100 && c[2] == 50;
  CHECK(is_a || is_b);
}

MVD_TEST(synth_rejects_bad_sizes) {
  SynthClipParams p;
  p.T = 0;
  bool threw = false;
  try {
    synth_validate(p);
  } catch (const std::invalid_argument&) { threw = true; }
  CHECK(threw);
}
