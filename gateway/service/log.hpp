// Logging set-up: spdlog to stderr, one line per event.
#pragma once

#include <string_view>

namespace gw {

enum class LogFormat { Auto, Text, Journal };

// Parses "auto", "text" or "journal"; false for anything else.
bool parse_log_format(std::string_view text, LogFormat& out) noexcept;

// Installs the stderr logger. Returns false (and changes nothing) for an unknown level name.
// Journal format (or Auto under systemd, i.e. JOURNAL_STREAM set): each line starts with the
// sd-daemon priority "<N>" and has no timestamp (journald adds its own).
bool init_logging(std::string_view level, LogFormat format = LogFormat::Auto);

}  // namespace gw
