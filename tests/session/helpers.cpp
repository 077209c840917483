#include "helpers.hpp"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <utility>

#include "mqttsn/print.hpp"

namespace st {

gw::Bytes bytes(std::string_view s) {
  return gw::Bytes(s.begin(), s.end());
}

namespace {

std::string text(const gw::Bytes& b) {
  return "\"" + std::string(b.begin(), b.end()) + "\"";
}

std::string will_text(const std::optional<gw::Will>& w) {
  if (!w) return "none";
  return "{" + w->topic + " " + text(w->payload) + " qos=" + std::to_string(w->qos) +
         " retain=" + std::to_string(w->retain) + "}";
}

const char* level_name(gw::LogLevel l) {
  switch (l) {
    case gw::LogLevel::Debug:
      return "debug";
    case gw::LogLevel::Info:
      return "info";
    case gw::LogLevel::Warn:
      return "warn";
    case gw::LogLevel::Error:
      return "error";
  }
  return "?";
}

}  // namespace

std::string render(const Action& a) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, gw::act::SendToClient>) {
          return "send " + mqttsn::to_string(x.msg);
        } else if constexpr (std::is_same_v<T, gw::act::ConnectUpstream>) {
          return "ConnectUpstream{" + x.client_id + " clean=" + std::to_string(x.clean_session) +
                 " keep_alive=" + std::to_string(x.keep_alive_s) + " will=" + will_text(x.will) +
                 "}";
        } else if constexpr (std::is_same_v<T, gw::act::ReconnectUpstream>) {
          return "ReconnectUpstream{will=" + will_text(x.will) + "}";
        } else if constexpr (std::is_same_v<T, gw::act::PublishUpstream>) {
          return "PublishUpstream{token=" + std::to_string(x.token) + " " + x.topic + " " +
                 text(x.payload) + " qos=" + std::to_string(x.qos) +
                 " retain=" + std::to_string(x.retain) + "}";
        } else if constexpr (std::is_same_v<T, gw::act::SubscribeUpstream>) {
          return "SubscribeUpstream{token=" + std::to_string(x.token) + " " + x.filter +
                 " qos=" + std::to_string(x.qos) + "}";
        } else if constexpr (std::is_same_v<T, gw::act::UnsubscribeUpstream>) {
          return "UnsubscribeUpstream{token=" + std::to_string(x.token) + " " + x.filter + "}";
        } else if constexpr (std::is_same_v<T, gw::act::DisconnectUpstream>) {
          return "DisconnectUpstream";
        } else if constexpr (std::is_same_v<T, gw::act::EndSession>) {
          return std::string("EndSession{lost=") + (x.lost ? "true" : "false") + "}";
        } else {
          return std::string("log ") + level_name(x.level) + ": " + x.text;
        }
      },
      a);
}

std::string render(const Actions& as, bool with_logs) {
  std::string s = "\n";
  for (const auto& a : as) {
    if (!with_logs && std::holds_alternative<gw::act::Log>(a)) continue;
    s += "  " + render(a) + "\n";
  }
  return s;
}

bool has_log(const Actions& as, std::string_view needle, std::optional<gw::LogLevel> level) {
  for (const auto& a : as) {
    const auto* l = std::get_if<gw::act::Log>(&a);
    if (l && l->text.find(needle) != std::string::npos && (!level || *level == l->level))
      return true;
  }
  return false;
}

mqttsn::Connect connect(std::string id, std::uint16_t keep_alive, bool clean, bool will) {
  mqttsn::Connect c;
  c.flags.clean_session = clean;
  c.flags.will = will;
  c.duration = keep_alive;
  c.client_id = std::move(id);
  return c;
}

mqttsn::WillTopic will_topic(std::string topic, QoS qos, bool retain) {
  mqttsn::WillTopic w;
  w.flags.qos = qos;
  w.flags.retain = retain;
  w.will_topic = std::move(topic);
  return w;
}

mqttsn::Publish publish(TopicIdType type, std::uint16_t topic_id, QoS qos, std::uint16_t msg_id,
                        std::string_view data, bool dup, bool retain) {
  mqttsn::Publish p;
  p.flags.dup = dup;
  p.flags.qos = qos;
  p.flags.retain = retain;
  p.flags.topic_id_type = type;
  p.topic_id = topic_id;
  p.msg_id = msg_id;
  p.data = bytes(data);
  return p;
}

mqttsn::Publish down(TopicIdType type, std::uint16_t topic_id, QoS qos, std::uint16_t msg_id,
                     std::string_view data, bool dup, bool retain) {
  return publish(type, topic_id, qos, msg_id, data, dup, retain);
}

mqttsn::Subscribe subscribe(std::string filter, QoS qos, std::uint16_t msg_id) {
  mqttsn::Subscribe s;
  s.flags.qos = qos;
  s.msg_id = msg_id;
  s.topic_name = std::move(filter);
  return s;
}

mqttsn::Subscribe subscribe_id(TopicIdType type, std::uint16_t topic_id, QoS qos,
                               std::uint16_t msg_id) {
  mqttsn::Subscribe s;
  s.flags.qos = qos;
  s.flags.topic_id_type = type;
  s.msg_id = msg_id;
  s.topic_id = topic_id;
  return s;
}

mqttsn::SubAck suback(QoS granted, std::uint16_t topic_id, std::uint16_t msg_id, ReturnCode rc) {
  mqttsn::SubAck a;
  a.flags.qos = granted;
  a.topic_id = topic_id;
  a.msg_id = msg_id;
  a.return_code = rc;
  return a;
}

mqttsn::Disconnect sleep_for(std::uint16_t seconds) {
  return mqttsn::Disconnect{seconds};
}

Action send(mqttsn::Message m) {
  return gw::act::SendToClient{std::move(m)};
}

Action connect_up(std::string id, bool clean, std::uint16_t keep_alive, std::optional<gw::Will> w) {
  return gw::act::ConnectUpstream{std::move(id), clean, keep_alive, std::move(w)};
}

Action reconnect_up(std::optional<gw::Will> w) {
  return gw::act::ReconnectUpstream{std::move(w)};
}

Action publish_up(std::uint32_t token, std::string topic, std::string_view data, int qos,
                  bool retain) {
  return gw::act::PublishUpstream{token, std::move(topic), bytes(data), qos, retain};
}

Action subscribe_up(std::uint32_t token, std::string filter, int qos) {
  return gw::act::SubscribeUpstream{token, std::move(filter), qos};
}

Action unsubscribe_up(std::uint32_t token, std::string filter) {
  return gw::act::UnsubscribeUpstream{token, std::move(filter)};
}

Action disconnect_up() {
  return gw::act::DisconnectUpstream{};
}
Action end_session(bool lost) {
  return gw::act::EndSession{lost};
}

gw::Will will(std::string topic, std::string_view payload, int qos, bool retain) {
  return gw::Will{std::move(topic), bytes(payload), qos, retain};
}

gw::ev::UpstreamMessage message(std::string topic, std::string_view payload, int qos,
                                bool retained) {
  return gw::ev::UpstreamMessage{std::move(topic), bytes(payload), qos, retained};
}

gw::SessionConfig Sensor::default_config() {
  gw::SessionConfig cfg;
  cfg.retry_interval = 10s;
  cfg.retry_count = 3;
  cfg.max_buffered = 1000;
  cfg.predefined = std::make_shared<const gw::PredefinedTopics>(
      gw::PredefinedTopics{{1, "sensors/predefined/one"}, {7, "cmd/seven"}});
  return cfg;
}

Sensor::Sensor(gw::SessionConfig cfg)
    : now(gw::TimePoint{} + 1000h), session(std::move(cfg), now) {}

Actions Sensor::after(std::chrono::milliseconds d) {
  const gw::TimePoint target = now + d;
  Actions out;
  for (int guard = 0; guard < 10000; ++guard) {
    const auto deadline = session.next_deadline();
    if (!deadline || *deadline > target) break;
    now = std::max(now, *deadline);
    auto fired = session.on_timer(now);
    const bool progressed = !fired.empty() || session.next_deadline() != deadline;
    out.insert(out.end(), fired.begin(), fired.end());
    if (!progressed) {
      FAIL("on_timer at the deadline changed nothing: the runtime would spin");
      break;
    }
  }
  now = target;
  return out;
}

void Sensor::connect_plain(std::string id, std::uint16_t keep_alive, bool clean) {
  auto a = packet(connect(id, keep_alive, clean));
  REQUIRE(render(a) == render(Actions{connect_up(id, clean, keep_alive)}));
  a = upstream(gw::ev::UpstreamConnected{false});
  REQUIRE(render(a) == render(Actions{send(mqttsn::ConnAck{ReturnCode::Accepted})}));
  REQUIRE(session.state() == gw::SessionState::Active);
}

void Sensor::subscribed(std::string filter, QoS qos, std::uint16_t msg_id, std::uint32_t token,
                        std::uint16_t expect_topic_id) {
  auto a = packet(subscribe(filter, qos, msg_id));
  REQUIRE(render(a) == render(Actions{subscribe_up(token, filter, static_cast<int>(qos))}));
  a = upstream(gw::ev::UpstreamSubscribed{token, true, static_cast<int>(qos)});
  REQUIRE(render(a) == render(Actions{send(suback(qos, expect_topic_id, msg_id))}));
}

}  // namespace st
