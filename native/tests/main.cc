#include <cstring>
#include <stdexcept>

#include "check.h"

namespace mvdtest {
std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}
void fail(const std::string& msg) { throw std::runtime_error(msg); }
}  // namespace mvdtest

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (auto& c : mvdtest::registry()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    try {
      c.fn();
      std::printf("ok     %s\n", c.name);
      ++passed;
    } catch (const std::exception& e) {
      std::printf("FAIL   %s: %s\n", c.name, e.what());
      ++failed;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
