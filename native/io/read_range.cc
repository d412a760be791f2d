#include "read_range.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "../core/errors.h"

namespace mvd {

// Linux moves at most this much per read call (MAX_RW_COUNT); asking for less keeps each call whole.
constexpr size_t kMaxChunk = size_t(1) << 30;

size_t read_range(int fd, void* dst, size_t bytes, uint64_t offset, const char* op) {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < bytes) {
    const size_t want = bytes - done < kMaxChunk ? bytes - done : kMaxChunk;
    const ssize_t got = ::pread(fd, p + done, want, (off_t)(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      throw OpError(ErrorKind::Native, op,
                    "reading " + std::to_string(want) + " bytes at file offset " + std::to_string(offset + done) +
                        " failed: " + std::strerror(err));
    }
    if (got == 0) break;  // end of file
    done += (size_t)got;
  }
  return done;
}

}  // namespace mvd
