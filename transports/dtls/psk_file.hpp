// Pre-shared keys in mosquitto's psk_file format: one "identity:hexkey" per line; blank lines and
// lines starting with '#' are skipped. Pure: parsing only (reading the file is psk_file_read()).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace transport {

using PskKeys = std::map<std::string, std::vector<std::uint8_t>, std::less<>>;

// The keys, or an error naming the line ("line 3: key is not hexadecimal").
std::variant<PskKeys, std::string> parse_psk_text(std::string_view text);
// Reads and parses `path`; refuses a file others may read (mode o+r), like a password file.
std::variant<PskKeys, std::string> psk_file_read(const std::string& path);

}  // namespace transport
