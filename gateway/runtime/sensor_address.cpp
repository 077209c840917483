#include "gateway/runtime/sensor_address.hpp"

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
  std::size_t h = transport::PeerAddressHash{}(a.peer);
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
