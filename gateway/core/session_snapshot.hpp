// What a sensor session must keep across a gateway restart, as plain values: the state store
// writes it, Session::restore() rebuilds a session from it. Time-free: timers restart on restore.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/core/outbox.hpp"
#include "gateway/core/session_types.hpp"

namespace gw {

// A normal topic id of one client (§6.5): REGISTERed by the client or assigned by the gateway.
struct TopicRegistration {
  std::uint16_t id = 0;
  std::string name;
  bool known_by_client = false;  // the client has been told (REGACK, SUBACK, our REGISTER acked)
  friend bool operator==(const TopicRegistration&, const TopicRegistration&) = default;
};

struct Subscription {
  std::string filter;  // the topic name a predefined / short id stood for is stored resolved
  int qos = 0;
  friend bool operator==(const Subscription&, const Subscription&) = default;
};

struct SessionSnapshot {
  // Which of the session's states survive: Active, Asleep (Awake is stored as Asleep: the sensor
  // repeats its PINGREQ) and Disconnected (a parked CleanSession=false session).
  SessionState state = SessionState::Active;
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keep_alive_s = 0;
  std::optional<std::uint16_t> sleep_s;
  std::optional<Will> will;
  std::vector<TopicRegistration> topics;  // ordered by id
  std::uint16_t next_topic_id = 1;
  std::vector<Subscription> subscriptions;  // ordered by filter
  // QoS 1/2 broker messages for the client, oldest first; the one in flight (if any) first, with
  // its MsgId and DUP set so it is resent as the same message.
  std::vector<Outgoing> buffered;
  // A QoS 2 exchange waiting for the client's PUBCOMP: the PUBREL is resent on resume.
  std::optional<std::uint16_t> pubrel_msg_id;
  std::uint16_t next_msg_id = 1;
  friend bool operator==(const SessionSnapshot&, const SessionSnapshot&) = default;
};

}  // namespace gw
