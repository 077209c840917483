// Where a sensor is reached: its transport address, plus the wireless node id when it sits behind
// a forwarder (ENCAPSULATED, §5.5).
#pragma once

#include <cstddef>
#include <string>

#include "transports/peer_address.hpp"

namespace gw {

struct SensorAddress {
  transport::PeerAddress peer;
  std::string node_id;  // empty: not encapsulated
  friend bool operator==(const SensorAddress&, const SensorAddress&) = default;
};
struct SensorAddressHash {
  std::size_t operator()(const SensorAddress& a) const noexcept;
};

// "udp 127.0.0.1:5000" or "udp 127.0.0.1:5000 node 0a0b" for logs and the service view.
std::string address_text(const SensorAddress& a);

}  // namespace gw
