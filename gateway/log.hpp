// Logging set-up: spdlog to stderr, one line per event.
#pragma once

#include <string_view>

namespace gw {

// Installs the stderr logger. Returns false (and changes nothing) for an unknown level name.
bool init_logging(std::string_view level);

}  // namespace gw
