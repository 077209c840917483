// Helpers so that each session test reads like its scenario: a sensor with injected time, message
// and action builders, and EXPECT_ACTIONS comparing the exact list of actions (logs aside).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/core/session.hpp"
#include "mqttsn/messages.hpp"

namespace st {

using namespace std::chrono_literals;
using gw::Action;
using gw::Actions;
using mqttsn::QoS;
using mqttsn::ReturnCode;
using mqttsn::TopicIdType;

gw::Bytes bytes(std::string_view s);

// ---- rendering (one line per action, readable in a failed CHECK)
std::string render(const Action& a);
std::string render(const Actions& as, bool with_logs = false);
// Whether some Log action contains `needle`.
bool has_log(const Actions& as, std::string_view needle, std::optional<gw::LogLevel> level = {});

#define EXPECT_ACTIONS(actual, ...) \
  CHECK(::st::render(actual) == ::st::render(::gw::Actions{__VA_ARGS__}))

// ---- client messages
mqttsn::Connect connect(std::string id, std::uint16_t keep_alive = 60, bool clean = true,
                        bool will = false);
mqttsn::WillTopic will_topic(std::string topic, QoS qos = QoS::AtMostOnce, bool retain = false);
mqttsn::Publish publish(TopicIdType type, std::uint16_t topic_id, QoS qos, std::uint16_t msg_id,
                        std::string_view data, bool dup = false, bool retain = false);
mqttsn::Subscribe subscribe(std::string filter, QoS qos, std::uint16_t msg_id);
mqttsn::Subscribe subscribe_id(TopicIdType type, std::uint16_t topic_id, QoS qos,
                               std::uint16_t msg_id);
mqttsn::SubAck suback(QoS granted, std::uint16_t topic_id, std::uint16_t msg_id,
                      ReturnCode rc = ReturnCode::Accepted);
mqttsn::Disconnect sleep_for(std::uint16_t seconds);

// ---- actions
Action send(mqttsn::Message m);
Action connect_up(std::string id, bool clean, std::uint16_t keep_alive,
                  std::optional<gw::Will> will = std::nullopt);
Action reconnect_up(std::optional<gw::Will> will);
Action publish_up(std::uint32_t token, std::string topic, std::string_view data, int qos,
                  bool retain = false);
Action subscribe_up(std::uint32_t token, std::string filter, int qos);
Action unsubscribe_up(std::uint32_t token, std::string filter);
Action disconnect_up();
Action end_session(bool lost);
gw::Will will(std::string topic, std::string_view payload, int qos = 0, bool retain = false);

// A gateway-to-client PUBLISH as the session builds it.
mqttsn::Publish down(TopicIdType type, std::uint16_t topic_id, QoS qos, std::uint16_t msg_id,
                     std::string_view data, bool dup = false, bool retain = false);

// ---- upstream events
gw::ev::UpstreamMessage message(std::string topic, std::string_view payload, int qos,
                                bool retained = false);

// One sensor's session, fed like the runtime feeds it: time only moves through after(), which calls
// on_timer at each deadline on the way, exactly as the runtime's timer would.
struct Sensor {
  explicit Sensor(gw::SessionConfig cfg = default_config());
  static gw::SessionConfig default_config();

  Actions packet(const mqttsn::Message& m) { return session.on_packet(m, now); }
  Actions upstream(const gw::UpstreamEvent& e) { return session.on_upstream(e, now); }
  Actions after(std::chrono::milliseconds d);

  // CONNECT (no will) and UpstreamConnected; checks the exchange on the way.
  void connect_plain(std::string id = "s1", std::uint16_t keep_alive = 60, bool clean = true);
  // SUBSCRIBE + UpstreamSubscribed{token}; checks the SUBACK.
  void subscribed(std::string filter, QoS qos, std::uint16_t msg_id, std::uint32_t token,
                  std::uint16_t expect_topic_id);

  gw::TimePoint now;
  gw::Session session;
};

}  // namespace st
