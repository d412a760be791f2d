#include "errors.h"

namespace mvd {

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::Shape:
      return "ShapeError";
    case ErrorKind::DType:
      return "DTypeError";
    case ErrorKind::Device:
      return "DeviceError";
    case ErrorKind::Value:
      return "ValueError";
    case ErrorKind::Disposed:
      return "DisposedError";
    case ErrorKind::Native:
      return "NativeError";
  }
  return "NativeError";
}

static std::string compose(const std::string& op, const std::string& msg, const std::string& shapes,
                           const std::string& device) {
  std::string s = op + ": " + msg;
  if (!shapes.empty()) s += " (" + shapes + ")";
  if (!device.empty()) s += " on " + device;
  return s;
}

OpError::OpError(ErrorKind kind, std::string op, const std::string& msg, std::string shapes, std::string device)
    : std::runtime_error(compose(op, msg, shapes, device)),
      kind(kind),
      op(std::move(op)),
      shapes(std::move(shapes)),
      device(std::move(device)) {}

OpError::OpError(Verbatim, ErrorKind kind, std::string op, const std::string& message)
    : std::runtime_error(message), kind(kind), op(std::move(op)) {}

OpError OpError::verbatim(ErrorKind kind, std::string op, const std::string& message) {
  return OpError(Verbatim{}, kind, std::move(op), message);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace mvd
