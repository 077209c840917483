// Events a sensor session consumes and actions it returns (docs/design.md: sessions are state
// machines that take events and time and return actions; only the runtime carries them out).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "gateway/core/buffer_budget.hpp"
#include "gateway/core/predefined_topics.hpp"
#include "mqttsn/messages.hpp"

namespace gw {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Bytes = mqttsn::Bytes;

struct Will {
  std::string topic;
  Bytes payload;
  int qos = 0;
  bool retain = false;
  friend bool operator==(const Will&, const Will&) = default;
};

// ---- events from the upstream MQTT side (posted by the runtime, never called from Paho threads)
namespace ev {
struct UpstreamConnected {
  bool session_present = false;
  // A new Paho client made this connection: what was in flight on the previous one (publishes,
  // subscriptions) will never complete, so it counts as failed (gateway/upstream/upstream.hpp).
  bool in_flight_lost = false;
};
struct UpstreamConnectFailed {
  std::string reason;
  // The sensor cannot connect this way at all (e.g. its certificate does not load): CONNACK
  // 0x03 instead of 0x01 (congestion: try again later).
  bool permanent = false;
};
// The connection dropped; the runtime/Paho reconnects and then sends UpstreamConnected again.
struct UpstreamLost {
  std::string reason;
  // MQTT 5 DISCONNECT 0x8E: another connection with this ClientId (the sensor at another
  // gateway) took the broker session over. The session ends here without a will.
  bool taken_over = false;
};
struct UpstreamMessage {
  std::string topic;
  Bytes payload;
  int qos = 0;
  bool retained = false;
};
// A PublishUpstream with QoS 1/2 was acknowledged by the broker.
struct UpstreamDelivered {
  std::uint32_t token = 0;
};
// Also posted for a QoS 0 publish (token 0) that was dropped, so the drop is counted.
struct UpstreamPublishFailed {
  std::uint32_t token = 0;
  int reason_code = 0;      // MQTT 5 PUBACK/PUBREC reason >= 0x80: refused; 0: no answer
  bool link_down = false;   // the shared link (aggregating mode) was down; else Paho refused it
  bool queue_full = false;  // Paho's queue of publishes not yet written was full (back-pressure)
};
struct UpstreamSubscribed {
  std::uint32_t token = 0;
  bool ok = true;
  int granted_qos = 0;
  int reason_code = 0;  // !ok: the SUBACK code (0x80 in MQTT 3.1.1, a reason in 5); 0: no answer
};
struct UpstreamUnsubscribed {
  std::uint32_t token = 0;
};
}  // namespace ev

using UpstreamEvent =
    std::variant<ev::UpstreamConnected, ev::UpstreamConnectFailed, ev::UpstreamLost,
                 ev::UpstreamMessage, ev::UpstreamDelivered, ev::UpstreamPublishFailed,
                 ev::UpstreamSubscribed, ev::UpstreamUnsubscribed>;

// ---- actions for the runtime to carry out, in order
enum class LogLevel : std::uint8_t { Debug, Info, Warn, Error };

namespace act {
struct SendToClient {
  mqttsn::Message msg;
};
// Open the sensor's upstream MQTT session (transparent mode: its own Paho client).
struct ConnectUpstream {
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keep_alive_s = 0;
  std::optional<Will> will;
};
// The will changed on a live session (WILLTOPICUPD / WILLMSGUPD): MQTT can only set a will at
// connect, so the runtime reconnects with it; the session re-subscribes on UpstreamConnected.
struct ReconnectUpstream {
  std::optional<Will> will;
};
// token identifies the ack (UpstreamDelivered); 0 for QoS 0.
struct PublishUpstream {
  std::uint32_t token = 0;
  std::string topic;
  Bytes payload;
  int qos = 0;
  bool retain = false;
};
struct SubscribeUpstream {
  std::uint32_t token = 0;
  std::string filter;
  int qos = 0;
};
struct UnsubscribeUpstream {
  std::uint32_t token = 0;
  std::string filter;
};
// Clean MQTT DISCONNECT (the broker publishes no will).
struct DisconnectUpstream {};
// The session is over; the runtime forgets it after carrying out the actions before this one.
struct EndSession {
  bool lost = false;  // lost (keep-alive, sleep timer, retries) vs clean DISCONNECT
};
struct Log {
  LogLevel level = LogLevel::Info;
  std::string text;
};
}  // namespace act

using Action = std::variant<act::SendToClient, act::ConnectUpstream, act::ReconnectUpstream,
                            act::PublishUpstream, act::SubscribeUpstream, act::UnsubscribeUpstream,
                            act::DisconnectUpstream, act::EndSession, act::Log>;
using Actions = std::vector<Action>;

// §6.14 client states as the gateway sees them, plus Connecting (CONNECT received, will flow or
// upstream connect not finished).
enum class SessionState : std::uint8_t { Connecting, Active, Asleep, Awake, Lost, Disconnected };
// "connecting", "active", ... (logs and status topics).
const char* to_string(SessionState s) noexcept;

// How often the per-sensor caps below refused or dropped something, over all sessions.
struct LimitCounters {
  std::uint64_t topics = 0;              // REGISTER / SUBSCRIBE beyond max_topics
  std::uint64_t topic_length = 0;        // topic name or filter longer than max_topic_length
  std::uint64_t subscriptions = 0;       // SUBSCRIBE beyond max_subscriptions
  std::uint64_t keep_alive = 0;          // CONNECT Duration 0 or above max_keep_alive_s
  std::uint64_t downlink_oversized = 0;  // broker messages too big for the sensor
  std::uint64_t uplink_congestion = 0;   // QoS 1/2 PUBLISH refused while the upstream was down
};

struct SessionConfig {
  std::chrono::milliseconds retry_interval{10000};  // Tretry
  unsigned retry_count = 3;                         // Nretry
  std::size_t max_buffered = 1000;                  // protocol.max_buffered_per_client
  std::size_t max_buffered_bytes = 0;    // protocol.max_buffered_bytes_per_client; 0 = no limit
  std::shared_ptr<BufferBudget> budget;  // totals over all sessions; may be null: none
  std::shared_ptr<const PredefinedTopics> predefined;  // may be null: none configured
  // Per-sensor caps (protocol.max_*); 0 = no limit.
  std::size_t max_topics = 0;          // normal topic ids a sensor may REGISTER / SUBSCRIBE to
  std::size_t max_topic_length = 0;    // octets of a REGISTERed name or SUBSCRIBE filter
  std::size_t max_subscriptions = 0;   // filters held at once
  std::uint16_t max_keep_alive_s = 0;  // a Duration of 0 or above this is supervised at this
  std::size_t max_downlink_bytes = 0;  // largest MQTT-SN datagram sent to a sensor
  std::shared_ptr<LimitCounters> limit_counters;  // may be null: not counted
  // broker.connect_timeout_ms: a CONNECT whose upstream is not connected this long after it
  // (waiting for a connect slot included) is answered CONNACK 0x01 and the session ends; 0: never.
  std::chrono::milliseconds connect_timeout{0};
};

}  // namespace gw
