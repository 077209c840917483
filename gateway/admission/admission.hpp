// Who may use the gateway ([admission]): ClientId patterns and UDP source networks. Pure: no
// sockets, no clock, no logging; the runtime asks and acts.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "transports/peer_address.hpp"

namespace gw {

// "sensor-a" matches itself only; "kitchen-*" (a trailing '*') matches every ClientId starting
// with "kitchen-"; "*" matches all.
bool client_id_matches(std::string_view pattern, std::string_view client_id) noexcept;
// Empty when the pattern is usable, else why not ('*' anywhere but at the end).
std::string check_client_id_pattern(std::string_view pattern);

// An IP address as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one network list
// covers sockets of both families.
using IpAddress = std::array<std::uint8_t, 16>;

struct Network {
  IpAddress prefix{};
  std::uint8_t bits = 0;  // of the 128; an IPv4 /n is 96 + n
  friend bool operator==(const Network&, const Network&) = default;
};

// "10.1.0.0/16", "::1/128", "192.0.2.7" (one host). The error text names what is wrong; bits set
// below the prefix length are an error (a typo more often than not).
std::variant<Network, std::string> parse_network(std::string_view text);
bool network_contains(const Network& n, const IpAddress& a) noexcept;
// The source IP of a UDP peer; nullopt for BLE (not a network) or an unknown family.
std::optional<IpAddress> ip_of(const transport::PeerAddress& p) noexcept;

// The allow-lists; an empty list allows everyone.
class Admission {
 public:
  Admission() = default;
  // Patterns and networks must have been checked (config does): bad networks are skipped.
  Admission(std::vector<std::string> client_ids, const std::vector<std::string>& networks);

  bool allows_client_id(std::string_view client_id) const noexcept;
  // BLE peers always (they are governed by [ble] allow).
  bool allows_peer(const transport::PeerAddress& p) const noexcept;

  bool client_ids_restricted() const noexcept { return !client_ids_.empty(); }
  bool networks_restricted() const noexcept { return !networks_.empty(); }

 private:
  std::vector<std::string> client_ids_;
  std::vector<Network> networks_;
};

}  // namespace gw
