#include "gateway/admission/admission.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace gw {

bool client_id_matches(std::string_view pattern, std::string_view client_id) noexcept {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return client_id.substr(0, pattern.size()) == pattern;
  }
  return pattern == client_id;
}

std::string check_client_id_pattern(std::string_view pattern) {
  if (pattern.empty()) return "empty pattern";
  const auto star = pattern.find('*');
  if (star != std::string_view::npos && star + 1 != pattern.size())
    return "'*' is only a wildcard at the end (\"kitchen-*\")";
  return {};
}

std::variant<Network, std::string> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  const std::string host(text.substr(0, slash));
  Network n;
  unsigned max_bits = 128;
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    n.prefix[10] = 0xff;
    n.prefix[11] = 0xff;
    std::memcpy(n.prefix.data() + 12, &v4, 4);
    max_bits = 32;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    std::memcpy(n.prefix.data(), &v6, 16);
  } else {
    return "not an IPv4 or IPv6 address: \"" + host + "\"";
  }
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    const auto len = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (len.empty() || ec != std::errc{} || end != len.data() + len.size() || bits > max_bits)
      return "prefix length must be 0.." + std::to_string(max_bits);
  }
  n.bits = static_cast<std::uint8_t>(bits + (max_bits == 32 ? 96 : 0));
  IpAddress masked = n.prefix;
  for (unsigned i = n.bits; i < 128; ++i)
    masked[i / 8] = static_cast<std::uint8_t>(masked[i / 8] & ~(0x80u >> (i % 8)));
  if (masked != n.prefix) return "address bits set beyond the /" + std::to_string(bits) + " prefix";
  return n;
}

bool network_contains(const Network& n, const IpAddress& a) noexcept {
  const unsigned whole = n.bits / 8;
  if (std::memcmp(n.prefix.data(), a.data(), whole) != 0) return false;
  const unsigned rest = n.bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (n.prefix[whole] & mask) == (a[whole] & mask);
}

std::optional<IpAddress> ip_of(const transport::PeerAddress& p) noexcept {
  if (p.kind == transport::Kind::Ble) return std::nullopt;
  sockaddr_storage ss{};
  std::memcpy(&ss, p.raw.data(), std::min<std::size_t>(p.size, sizeof ss));
  IpAddress a{};
  if (ss.ss_family == AF_INET && p.size >= sizeof(sockaddr_in)) {
    sockaddr_in sin{};
    std::memcpy(&sin, &ss, sizeof sin);
    a[10] = 0xff;
    a[11] = 0xff;
    std::memcpy(a.data() + 12, &sin.sin_addr, 4);
    return a;
  }
  if (ss.ss_family == AF_INET6 && p.size >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &ss, sizeof sin6);
    std::memcpy(a.data(), &sin6.sin6_addr, 16);
    return a;
  }
  return std::nullopt;
}

Admission::Admission(std::vector<std::string> client_ids, const std::vector<std::string>& networks)
    : client_ids_(std::move(client_ids)) {
  for (const auto& text : networks) {
    auto parsed = parse_network(text);
    if (auto* n = std::get_if<Network>(&parsed)) networks_.push_back(*n);
  }
}

bool Admission::allows_client_id(std::string_view client_id) const noexcept {
  if (client_ids_.empty()) return true;
  return std::any_of(client_ids_.begin(), client_ids_.end(),
                     [&](const std::string& p) { return client_id_matches(p, client_id); });
}

bool Admission::allows_peer(const transport::PeerAddress& p) const noexcept {
  if (networks_.empty() || p.kind == transport::Kind::Ble) return true;
  const auto ip = ip_of(p);
  if (!ip) return false;
  return std::any_of(networks_.begin(), networks_.end(),
                     [&](const Network& n) { return network_contains(n, *ip); });
}

}  // namespace gw
