#include "transports/peer_address.hpp"

#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace transport {

std::string to_string(const PeerAddress& a) {
  if (a.kind == Kind::Ble) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "ble:%02X:%02X:%02X:%02X:%02X:%02X", a.raw[0], a.raw[1],
                  a.raw[2], a.raw[3], a.raw[4], a.raw[5]);
    return buf;
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, a.raw.data(), std::min<std::size_t>(a.size, sizeof ss));
  const std::string scheme = a.kind == Kind::Dtls ? "dtls:" : "udp:";
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss.ss_family == AF_INET) {
    sockaddr_in sin{};
    std::memcpy(&sin, &ss, sizeof sin);
    uv_ip4_name(&sin, host, sizeof host);
    port = ntohs(sin.sin_port);
    return scheme + std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &ss, sizeof sin6);
    uv_ip6_name(&sin6, host, sizeof host);
    port = ntohs(sin6.sin6_port);
    return scheme + "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return scheme + "?";
}

std::size_t PeerAddressHash::operator()(const PeerAddress& a) const noexcept {
  // FNV-1a over the meaningful bytes.
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::uint8_t b) {
    h ^= b;
    h *= 1099511628211ULL;
  };
  mix(static_cast<std::uint8_t>(a.kind));
  mix(a.endpoint);
  for (std::size_t i = 0; i < a.size && i < a.raw.size(); ++i) mix(a.raw[i]);
  return static_cast<std::size_t>(h);
}

}  // namespace transport
