// Errors raised by native code. The binding turns each kind into the matching typed JS error
// (ShapeError, DTypeError, DeviceError, ...), always naming the op, the shapes and the device.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>

namespace mvd {

enum class ErrorKind { Shape, DType, Device, Value, Disposed, Native };

const char* error_kind_name(ErrorKind k);

struct OpError : std::runtime_error {
  ErrorKind kind;
  std::string op;
  std::string shapes;  // e.g. "A [7,33], B [32,129]"
  std::string device;
  OpError(ErrorKind kind, std::string op, const std::string& msg, std::string shapes = "", std::string device = "");
  // An error reported again (a queued op's failure thrown at a later call): `message` is already
  // the composed text, so it is not prefixed with the op a second time.
  static OpError verbatim(ErrorKind kind, std::string op, const std::string& message);

 private:
  struct Verbatim {};
  OpError(Verbatim, ErrorKind kind, std::string op, const std::string& message);
};

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace mvd
