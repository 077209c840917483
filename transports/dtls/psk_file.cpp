#include "transports/dtls/psk_file.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace transport {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// DTLS carries at most PSK_MAX_PSK_LEN (256) key bytes and 128 identity bytes.
constexpr std::size_t kMaxKeyBytes = 256;
constexpr std::size_t kMaxIdentity = 128;

}  // namespace

std::variant<PskKeys, std::string> parse_psk_text(std::string_view text) {
  PskKeys keys;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    // The identity may not contain ':'; the key is everything after the last one.
    const auto colon = line.rfind(':');
    if (colon == std::string_view::npos) return where + "expected identity:hexkey";
    const std::string_view identity = line.substr(0, colon);
    const std::string_view hex = line.substr(colon + 1);
    if (identity.empty()) return where + "empty identity";
    if (identity.find(':') != std::string_view::npos) return where + "identity contains ':'";
    if (identity.size() > kMaxIdentity)
      return where + "identity longer than " + std::to_string(kMaxIdentity) + " bytes";
    if (hex.empty() || hex.size() % 2 != 0)
      return where + "key must be an even number of hexadecimal digits";
    if (hex.size() / 2 > kMaxKeyBytes)
      return where + "key longer than " + std::to_string(kMaxKeyBytes) + " bytes";
    std::vector<std::uint8_t> key;
    key.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
      const int hi = hex_value(hex[i]);
      const int lo = hex_value(hex[i + 1]);
      if (hi < 0 || lo < 0) return where + "key is not hexadecimal";
      key.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    if (!keys.emplace(std::string(identity), std::move(key)).second)
      return where + "identity \"" + std::string(identity) + "\" given twice";
  }
  return keys;
}

std::variant<PskKeys, std::string> psk_file_read(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return path + ": cannot read";
  if ((st.st_mode & S_IROTH) != 0)
    return path + ": readable by everyone (chmod o-r, it holds secret keys)";
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": cannot read";
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = parse_psk_text(text.str());
  if (auto* e = std::get_if<std::string>(&parsed)) return path + ": " + *e;
  return parsed;
}

}  // namespace transport
