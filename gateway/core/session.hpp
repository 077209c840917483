// One sensor's session: a pure state machine (no I/O, no clock). The runtime feeds it packets,
// upstream events and time, and carries out the actions it returns.
#pragma once

#include <optional>
#include <string>

#include "gateway/core/session_types.hpp"
#include "mqttsn/messages.hpp"

namespace gw {

class Session {
 public:
  Session(SessionConfig config, TimePoint now);

  // A decoded MQTT-SN message from this sensor (never ENCAPSULATED: the runtime unwraps it).
  Actions on_packet(const mqttsn::Message& msg, TimePoint now);
  // An event from this sensor's upstream MQTT session.
  Actions on_upstream(const UpstreamEvent& event, TimePoint now);
  // Called when now >= next_deadline() (calling it earlier is harmless).
  Actions on_timer(TimePoint now);
  // The next time on_timer must be called, if any (keep-alive, sleep, retransmission).
  std::optional<TimePoint> next_deadline() const;

  SessionState state() const noexcept;
  const std::string& client_id() const noexcept;

  // (private state: owned by the session implementation)
};

}  // namespace gw
