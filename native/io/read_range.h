// Reading a byte range of an open file straight into memory the caller owns (a tensor's storage),
// with no intermediate buffer. Plain C++, no N-API: the binding (ops_io.cc) runs it off the JS thread.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mvd {

// Fills dst[0, bytes) from file offset `offset` of `fd`, looping over short reads and EINTR. Returns
// the bytes read, fewer than `bytes` only where the file ended first (the caller decides what a
// short file means). An I/O error is an OpError (Native) naming `op`, the offset and errno's text.
size_t read_range(int fd, void* dst, size_t bytes, uint64_t offset, const char* op);

}  // namespace mvd
