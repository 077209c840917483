// A fatal error of a field tool: main() prints what() on stderr and exits with status 1.
#pragma once

#include <stdexcept>

namespace mqttsn::tools {

struct ToolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace mqttsn::tools
