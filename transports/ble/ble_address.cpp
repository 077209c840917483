#include "transports/ble/ble_address.hpp"

#include <cstdio>

namespace transport::ble {

namespace {
int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string join(const Octets& a, char sep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i != 0) s += sep;
    s += kHex[a[i] >> 4];
    s += kHex[a[i] & 0x0F];
  }
  return s;
}
}  // namespace

std::optional<Octets> parse_address(std::string_view text) noexcept {
  if (text.size() != 17) return std::nullopt;
  Octets out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t at = i * 3;
    if (i != 0 && text[at - 1] != ':') return std::nullopt;
    const int hi = hex_digit(text[at]);
    const int lo = hex_digit(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string format_address(const Octets& a) {
  return join(a, ':');
}

std::optional<std::string> normalize_address(std::string_view text) {
  const auto a = parse_address(text);
  if (!a) return std::nullopt;
  return format_address(*a);
}

PeerAddress to_peer(const Octets& a) noexcept {
  PeerAddress p;
  p.kind = Kind::Ble;
  p.size = static_cast<std::uint8_t>(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) p.raw[i] = a[i];
  return p;
}

std::optional<Octets> from_peer(const PeerAddress& p) noexcept {
  if (p.kind != Kind::Ble || p.size != 6) return std::nullopt;
  Octets a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = p.raw[i];
  return a;
}

std::string device_path(std::string_view adapter_path, const Octets& a) {
  return std::string(adapter_path) + "/dev_" + join(a, '_');
}

}  // namespace transport::ble
