// Session: the per-sensor caps (SessionConfig max_*). A sensor that sends valid MQTT-SN can
// still ask for unbounded memory (topic ids, long names, subscriptions) or a session that is
// never supervised (keep-alive 0); a broker message can be too big to frame. Each refusal is
// answered with the spec's return code, logged and counted.
#include <string>

#include "gateway/core/session.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"

namespace gw {

namespace {

using mqttsn::ReturnCode;

void count(const std::shared_ptr<LimitCounters>& c, std::uint64_t LimitCounters::*field) {
  if (c) ++((*c).*field);
}

// Octets of a datagram with `body` octets after the MsgType (§5.2.1: 3-octet Length above 255).
std::size_t frame_size(std::size_t body) {
  return body + 2 > 0xFF ? body + 4 : body + 2;
}

}  // namespace

bool Session::refused_by_caps(const mqttsn::Register& m, Actions& out) {
  const auto& c = config_;
  if (c.max_topic_length != 0 && m.topic_name.size() > c.max_topic_length) {
    count(c.limit_counters, &LimitCounters::topic_length);
    send(out, mqttsn::RegAck{0, m.msg_id, ReturnCode::RejectedNotSupported});
    log(out, LogLevel::Warn,
        who() + "REGISTER refused: topic name of " + std::to_string(m.topic_name.size()) +
            " octets (protocol.max_topic_length = " + std::to_string(c.max_topic_length) + ")");
    return true;
  }
  if (c.max_topics != 0 && topics_.size() >= c.max_topics && !topics_.id_of(m.topic_name)) {
    count(c.limit_counters, &LimitCounters::topics);
    send(out, mqttsn::RegAck{0, m.msg_id, ReturnCode::RejectedCongestion});
    log(out, LogLevel::Warn,
        who() + "REGISTER of '" + mqttsn::printable(m.topic_name) + "' refused: " +
            std::to_string(topics_.size()) + " topic ids (protocol.max_topics_per_client)");
    return true;
  }
  return false;
}

bool Session::refused_by_caps(const mqttsn::Subscribe& m, const std::string& filter, bool new_id,
                              Actions& out) {
  const auto& c = config_;
  const auto refuse = [&](ReturnCode rc, std::uint64_t LimitCounters::*field,
                          const std::string& why) {
    count(c.limit_counters, field);
    send(out, mqttsn::SubAck{{}, 0, m.msg_id, rc});
    log(out, LogLevel::Warn, who() + "SUBSCRIBE refused: " + why);
    return true;
  };
  if (c.max_topic_length != 0 && filter.size() > c.max_topic_length)
    return refuse(ReturnCode::RejectedNotSupported, &LimitCounters::topic_length,
                  "filter of " + std::to_string(filter.size()) +
                      " octets (protocol.max_topic_length = " + std::to_string(c.max_topic_length) +
                      ")");
  if (c.max_subscriptions != 0 && !subscriptions_.contains(filter)) {
    std::size_t held = subscriptions_.size();
    for (const auto& [token, p] : up_pending_)
      if (p.kind == UpKind::Subscribe) ++held;
    if (held >= c.max_subscriptions)
      return refuse(
          ReturnCode::RejectedCongestion, &LimitCounters::subscriptions,
          std::to_string(held) + " subscriptions (protocol.max_subscriptions_per_client)");
  }
  if (new_id && c.max_topics != 0 && topics_.size() >= c.max_topics && !topics_.id_of(filter))
    return refuse(ReturnCode::RejectedCongestion, &LimitCounters::topics,
                  std::to_string(topics_.size()) + " topic ids (protocol.max_topics_per_client)");
  return false;
}

std::uint16_t Session::supervised_keep_alive(std::uint16_t duration, Actions& out) {
  const std::uint16_t cap = config_.max_keep_alive_s;
  if (cap == 0 || (duration != 0 && duration <= cap)) return duration;
  count(config_.limit_counters, &LimitCounters::keep_alive);
  log(out, LogLevel::Info,
      who() + "CONNECT Duration " + std::to_string(duration) + " s: supervised at " +
          std::to_string(cap) + " s (protocol.max_keep_alive_s)");
  return cap;
}

bool Session::too_big_for_client(const ev::UpstreamMessage& e, Actions& out) {
  // PUBLISH: Flags, TopicId, MsgId, Data; REGISTER (for a new name): TopicId, MsgId, TopicName.
  const std::size_t publish = frame_size(5 + e.payload.size());
  const std::size_t reg = frame_size(4 + e.topic.size());
  const std::size_t limit = config_.max_downlink_bytes != 0 ? config_.max_downlink_bytes : 0xFFFF;
  if (publish <= limit && publish <= 0xFFFF && reg <= limit && reg <= 0xFFFF) return false;
  count(config_.limit_counters, &LimitCounters::downlink_oversized);
  log(out, LogLevel::Warn,
      who() + "broker message on '" + mqttsn::printable(e.topic) + "' (" +
          std::to_string(e.payload.size()) + " octets) too big for the sensor (" +
          std::to_string(std::max(publish, reg)) + " octets framed, limit " +
          std::to_string(std::min<std::size_t>(limit, 0xFFFF)) + "), dropped");
  return true;
}

}  // namespace gw
