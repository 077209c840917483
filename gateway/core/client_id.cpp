#include "gateway/core/client_id.hpp"

#include <cstdint>

namespace gw {

namespace {

// Length of the UTF-8 sequence at s[i] (0: invalid) and its code point.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

const char* client_id_problem(std::string_view client_id, std::size_t max_length) noexcept {
  if (client_id.size() > max_length) return "ClientId too long";
  for (std::size_t i = 0; i < client_id.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8_sequence(client_id, i, cp);
    if (n == 0) return "ClientId is not valid UTF-8";
    if (cp == 0) return "ClientId contains NUL";
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return "ClientId contains a control character";
    i += n;
  }
  return nullptr;
}

std::string escape_topic_level(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const bool escape = c == '/' || c == '+' || c == '#' || c == '%' || c < 0x20 || c == 0x7F ||
                        (i == 0 && c == '$');
    if (!escape) {
      out += s[i];
      continue;
    }
    out += '%';
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

}  // namespace gw
