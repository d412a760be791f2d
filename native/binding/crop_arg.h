// The crop options {x, y, w, h, outH, outW} that resizeCrop (a tensor) and resizeCropArray (a loader
// worker's plain array) both take.
#pragma once
#include "../ops/frames/frames.h"
#include "args.h"

namespace mvd {

inline void read_crop(const std::string& op, const Napi::Object& o, ResizeCropArgs* a) {
  a->x = int_arg(op, o.Get("x"), "crop.x", 0);
  a->y = int_arg(op, o.Get("y"), "crop.y", 0);
  a->w = int_arg(op, o.Get("w"), "crop.w", 1);
  a->h = int_arg(op, o.Get("h"), "crop.h", 1);
  a->out_h = int_arg(op, o.Get("outH"), "outH", 1);
  a->out_w = int_arg(op, o.Get("outW"), "outW", 1);
}

}  // namespace mvd
