// Runtime, service view: read-only counts and lists for the service parts (notify, status
// topics), and the QoS 0 publish they use.
#include "gateway/runtime/runtime.hpp"

namespace gw {

SessionCounts ServiceHooks::session_counts(const Runtime& r) {
  SessionCounts c;
  for (const auto& [id, e] : r.table_.live()) {
    switch (e->session.state()) {
      case SessionState::Connecting:
        ++c.connecting;
        break;
      case SessionState::Active:
        ++c.active;
        break;
      case SessionState::Asleep:
        ++c.asleep;
        break;
      case SessionState::Awake:
        ++c.awake;
        break;
      case SessionState::Lost:
      case SessionState::Disconnected:
        continue;
    }
    if (e->address && e->address->peer.kind == transport::Kind::Ble)
      ++c.ble;
    else if (e->address && e->address->peer.kind == transport::Kind::Dtls)
      ++c.dtls;
    else
      ++c.udp;
  }
  return c;
}

std::vector<SensorView> ServiceHooks::sensors(const Runtime& r) {
  std::vector<SensorView> out;
  out.reserve(r.table_.size());
  for (const auto& [id, e] : r.table_.live()) {
    if (e->client_id.empty()) continue;
    out.push_back({e->client_id, e->session.state(),
                   e->address ? e->address->peer.kind : transport::Kind::Udp,
                   e->address ? address_text(*e->address) : std::string(), e->last_seen});
  }
  return out;
}

bool ServiceHooks::publish(Runtime& r, const std::string& topic, const std::string& payload,
                           bool retain) {
  if (!r.gateway_client_ || !r.broker_up_ || r.stopping_) return false;
  r.gateway_client_->publish(0, topic, Bytes(payload.begin(), payload.end()), 0, retain);
  return true;
}

}  // namespace gw
