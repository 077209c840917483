// Who sent a datagram: the transport plus its address, a comparable, hashable value.
// Transports move bytes and know nothing of MQTT-SN; this is all the gateway learns of a peer.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace transport {

// Dtls: UDP datagrams inside DTLS records (transports/dtls/); same address bytes as Udp.
enum class Kind : std::uint8_t { Udp = 0, Ble = 1, Dtls = 2 };
// How many kinds there are: arrays indexed by Kind have this size.
inline constexpr std::size_t kKindCount = 3;

struct PeerAddress {
  Kind kind = Kind::Udp;
  // UDP/DTLS: which listening socket (index into [udp] / [dtls] listen) the datagram arrived on;
  // BLE: 0.
  std::uint8_t endpoint = 0;
  // UDP: sockaddr_in / sockaddr_in6 bytes; BLE: the 6-octet identity address, most significant
  // first.
  std::uint8_t size = 0;
  std::array<std::uint8_t, 28> raw{};

  friend bool operator==(const PeerAddress&, const PeerAddress&) = default;
  friend auto operator<=>(const PeerAddress&, const PeerAddress&) = default;
};

// "udp:127.0.0.1:5000", "udp:[::1]:5000", "dtls:127.0.0.1:5000", "ble:C0:FF:EE:00:00:01".
std::string to_string(const PeerAddress& a);

struct PeerAddressHash {
  std::size_t operator()(const PeerAddress& a) const noexcept;
};

// Callback a transport calls for each received datagram / reassembled message.
// The span is only valid during the call.
using ReceiveFn = std::function<void(const PeerAddress&, std::span<const std::uint8_t>)>;

// Interface the gateway sends through. send() never blocks and never throws; failures are counted
// and logged by the transport.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Kind kind() const noexcept = 0;
  virtual void send(const PeerAddress& to, std::span<const std::uint8_t> bytes) = 0;
  // Sends to every configured broadcast/advertise destination (UDP [udp] advertise_to). Default:
  // none.
  virtual void broadcast(std::span<const std::uint8_t> /*bytes*/) {}
  // The gateway's hint about a peer: idle = it sleeps (nothing to exchange until it wakes), so a
  // link-based transport may release its link; false = awake. Default: ignored.
  virtual void set_peer_idle(const PeerAddress& /*peer*/, bool /*idle*/) {}
};

}  // namespace transport
