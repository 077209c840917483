#include "gateway/runtime/sensor_address.hpp"

#include <cstdint>
#include <cstring>
#include <functional>

namespace gw {

namespace {

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

}  // namespace

std::size_t SensorAddressHash::operator()(const SensorAddress& a) const noexcept {
  // Every datagram finds its sensor by address: a few word loads and multiplies instead of a
  // byte-wise hash of the whole sockaddr. Octets 0..7 hold the port and the IPv4 address
  // (sockaddr_in; 8..15 are zero) or a BLE address; a sockaddr_in6 adds 8..27 (the address and
  // the scope). Equal addresses hash equally, which is all the table needs.
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  const auto& raw = a.peer.raw;
  const auto word = [&raw](std::size_t at) {
    std::uint64_t w = 0;
    std::memcpy(&w, raw.data() + at, sizeof w);
    return w;
  };
  std::uint64_t h = (word(0) ^ static_cast<std::uint64_t>(a.peer.endpoint) << 56 ^
                     static_cast<std::uint64_t>(a.peer.kind) << 48) *
                    kMul;
  if (a.peer.size > 16) h = (((h ^ word(8)) * kMul ^ word(16)) * kMul ^ word(20)) * kMul;
  h ^= h >> 32;
  if (!a.node_id.empty())
    h ^= std::hash<std::string>{}(a.node_id) + 0x9e3779b97f4a7c15ULL + (h << 6);
  return h;
}

std::string address_text(const SensorAddress& a) {
  std::string s = transport::to_string(a.peer);
  if (!a.node_id.empty()) s += " node " + hex(a.node_id);
  return s;
}

}  // namespace gw
