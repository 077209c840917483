// Session: client-to-broker traffic (§6.5 REGISTER, §6.6 PUBLISH, §6.9 SUBSCRIBE/UNSUBSCRIBE).
// Nothing is acknowledged to the sensor before the broker has it (docs/design.md Delivery).
#include <algorithm>
#include <utility>

#include "gateway/core/broker_refusal.hpp"
#include "gateway/core/session.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"

namespace gw {

namespace {
using mqttsn::ReturnCode;
using mqttsn::TopicIdType;

std::string hex_byte(int v) {
  static constexpr char digits[] = "0123456789abcdef";
  return {digits[(v >> 4) & 0xf], digits[v & 0xf]};
}

int qos_value(mqttsn::QoS q) {
  return q == mqttsn::QoS::MinusOne ? 0 : static_cast<int>(q);
}
}  // namespace

void Session::on_register(const mqttsn::Register& m, Actions& out) {
  if (!mqttsn::valid_topic_name(m.topic_name)) {
    // A REGISTER names a topic to publish on: no wildcards (§6.10).
    send(out, mqttsn::RegAck{0, m.msg_id, ReturnCode::RejectedNotSupported});
    log(out, LogLevel::Warn,
        who() + "REGISTER of invalid topic name '" + mqttsn::printable(m.topic_name) + "'");
    return;
  }
  if (refused_by_caps(m, out)) return;
  const auto id = topics_.assign(m.topic_name);
  if (!id) {
    send(out, mqttsn::RegAck{0, m.msg_id, ReturnCode::RejectedCongestion});
    log(out, LogLevel::Warn,
        who() + "no topic id left for '" + mqttsn::printable(m.topic_name) + "'");
    return;
  }
  topics_.set_known_by_client(*id, true);
  send(out, mqttsn::RegAck{*id, m.msg_id, ReturnCode::Accepted});
}

void Session::on_publish(const mqttsn::Publish& m, mqttsn::Bytes* payload, Actions& out) {
  const mqttsn::QoS qos = m.flags.qos;
  const bool acked = qos == mqttsn::QoS::AtLeastOnce || qos == mqttsn::QoS::ExactlyOnce;
  auto topic = topics_.resolve(m.flags.topic_id_type, m.topic_id);
  if (!topic || !mqttsn::valid_topic_name(*topic)) {
    // §6.6/§6.7: never forwarded with an empty or unknown topic.
    if (acked) send(out, mqttsn::PubAck{m.topic_id, m.msg_id, ReturnCode::RejectedInvalidTopicId});
    log(out, LogLevel::Warn,
        who() + "PUBLISH on unknown " + std::string(mqttsn::to_string(m.flags.topic_id_type)) +
            " topic id " + std::to_string(m.topic_id) + (acked ? ", rejected" : ", dropped"));
    return;
  }
  // The payload goes on to the upstream client as is: moved when the runtime gave the packet
  // away (the hot path copies it only where Paho makes its own message).
  const auto take_payload = [&]() -> Bytes {
    if (payload != nullptr) return std::move(*payload);
    return m.data;
  };
  if (!acked) {
    out.emplace_back(act::PublishUpstream{0, std::move(*topic), take_payload(), 0, m.flags.retain});
    return;
  }
  if (qos == mqttsn::QoS::AtLeastOnce) {
    const bool pending = std::any_of(up_pending_.begin(), up_pending_.end(), [&](const auto& kv) {
      return kv.second.kind == UpKind::Publish1 && kv.second.msg_id == m.msg_id;
    });
    if (pending) {
      // The sensor repeated it before the broker answered: the first copy is on its way.
      log(out, LogLevel::Debug, who() + "QoS 1 PUBLISH " + std::to_string(m.msg_id) + " repeated");
      return;
    }
    if (refused_upstream_down(m, out)) return;
    const auto token = new_token();
    up_pending_[token] =
        UpPending{UpKind::Publish1, m.msg_id, m.topic_id, {}, 1, false, 0, upstream_up_};
    out.emplace_back(
        act::PublishUpstream{token, std::move(*topic), take_payload(), 1, m.flags.retain});
    return;
  }
  // QoS 2: PUBREC once the broker has it; a repeat before PUBREL is not forwarded again.
  if (auto it = qos2_in_.find(m.msg_id); it != qos2_in_.end()) {
    if (it->second.delivered) send(out, mqttsn::PubRec{m.msg_id});
    log(out, LogLevel::Debug,
        who() + "QoS 2 PUBLISH " + std::to_string(m.msg_id) + " repeated, not forwarded again");
    return;
  }
  if (refused_upstream_down(m, out)) return;
  const auto token = new_token();
  up_pending_[token] =
      UpPending{UpKind::Publish2, m.msg_id, m.topic_id, {}, 2, false, 0, upstream_up_};
  qos2_in_[m.msg_id] = Qos2In{token, false};
  out.emplace_back(
      act::PublishUpstream{token, std::move(*topic), take_payload(), 2, m.flags.retain});
}

bool Session::refused_upstream_down(const mqttsn::Publish& m, Actions& out) {
  if (upstream_up_) return false;
  // §5.4.12: while the broker connection is down the sensor is told to wait and resend later,
  // rather than spending its retries on a PUBLISH that cannot be acknowledged.
  if (config_.limit_counters) ++config_.limit_counters->uplink_congestion;
  send(out, mqttsn::PubAck{m.topic_id, m.msg_id, ReturnCode::RejectedCongestion});
  log(out, LogLevel::Debug,
      who() + "PUBLISH " + std::to_string(m.msg_id) +
          " while the upstream is down: PUBACK rejected (congestion)");
  return true;
}

void Session::on_pubrel(const mqttsn::PubRel& m, Actions& out) {
  auto it = qos2_in_.find(m.msg_id);
  if (it == qos2_in_.end()) {
    // Already completed: our PUBCOMP was lost, answer again.
    send(out, mqttsn::PubComp{m.msg_id});
    return;
  }
  if (!it->second.delivered) {
    log(out, LogLevel::Warn,
        who() + "PUBREL " + std::to_string(m.msg_id) + " before PUBREC, ignored");
    return;
  }
  qos2_in_.erase(it);
  send(out, mqttsn::PubComp{m.msg_id});
}

void Session::on_delivered(const ev::UpstreamDelivered& e, Actions& out) {
  auto it = up_pending_.find(e.token);
  if (it == up_pending_.end()) return;
  const UpPending p = std::move(it->second);
  up_pending_.erase(it);
  dropped_publishes_.clear();
  if (p.kind == UpKind::Publish1) {
    send(out, mqttsn::PubAck{p.topic_id, p.msg_id, ReturnCode::Accepted});
  } else if (p.kind == UpKind::Publish2) {
    auto q = qos2_in_.find(p.msg_id);
    if (q == qos2_in_.end() || q->second.token != e.token) return;
    q->second.delivered = true;
    send(out, mqttsn::PubRec{p.msg_id});
  }
}

void Session::on_publish_failed(const ev::UpstreamPublishFailed& e, Actions& out) {
  auto it = up_pending_.find(e.token);
  if (it == up_pending_.end()) return;
  const UpPending p = std::move(it->second);
  up_pending_.erase(it);
  if (p.kind != UpKind::Publish1 && p.kind != UpKind::Publish2) return;
  if (e.queue_full) {
    // Paho's queue toward the broker is full (broker.max_queued_publishes): back-pressure; the
    // sensor waits and resends (§5.4.12) instead of spending its retries.
    if (config_.limit_counters) ++config_.limit_counters->uplink_congestion;
    refuse_publish(p, e.token, ReturnCode::RejectedCongestion,
                   "not taken: the broker connection's queue is full", out);
    return;
  }
  if (const auto rc = refusal_return_code(e.reason_code)) {
    // The broker said no (MQTT 5): tell the sensor, its retries would be refused too.
    refuse_publish(p, e.token, *rc, "refused by the broker, reason 0x" + hex_byte(e.reason_code),
                   out);
    return;
  }
  if (p.sent_while_up) {
    // Failed although the connection was up: the broker dropped it with the message in flight
    // (how MQTT 3.1.1 brokers refuse). The sensor's retry failing the same way ends it.
    if (dropped_publishes_.size() >= kMaxDroppedPublishes) dropped_publishes_.clear();
    if (++dropped_publishes_[p.msg_id] >= kLossesBeforeRefusal) {
      dropped_publishes_.erase(p.msg_id);
      refuse_publish(p, e.token, ReturnCode::RejectedNotSupported,
                     "lost with the connection " + std::to_string(kLossesBeforeRefusal) +
                         " times (refused by the broker?)",
                     out);
      return;
    }
  }
  if (p.kind == UpKind::Publish2) {
    // Not acknowledged: the sensor's retry will be forwarded afresh.
    if (auto q = qos2_in_.find(p.msg_id); q != qos2_in_.end() && q->second.token == e.token)
      qos2_in_.erase(q);
  }
  log(out, LogLevel::Warn,
      who() + "upstream publish of message " + std::to_string(p.msg_id) +
          " failed; not acknowledged, the sensor will retry");
}

void Session::refuse_publish(const UpPending& p, std::uint32_t token, ReturnCode rc,
                             const std::string& why, Actions& out) {
  if (auto q = qos2_in_.find(p.msg_id); q != qos2_in_.end() && q->second.token == token)
    qos2_in_.erase(q);
  // §5.4.13: PUBACK also answers a QoS 2 PUBLISH that is rejected.
  send(out, mqttsn::PubAck{p.topic_id, p.msg_id, rc});
  log(out, LogLevel::Warn,
      who() + "PUBLISH " + std::to_string(p.msg_id) + " " + why + ": PUBACK " +
          std::string(mqttsn::to_string(rc)));
}

void Session::on_upstream_lost(Actions& out) {
  // A broker that drops the connection instead of refusing (MQTT 3.1.1, or brokers that do so on
  // an ACL denial) drops it again each time the message is resent after reconnecting. The second
  // loss with the same message still in flight ends it: the sensor is told, not left retrying.
  for (auto it = up_pending_.begin(); it != up_pending_.end();) {
    UpPending& p = it->second;
    if ((p.kind == UpKind::Publish1 || p.kind == UpKind::Publish2) &&
        ++p.losses >= kLossesBeforeRefusal) {
      const UpPending done = std::move(p);
      const std::uint32_t token = it->first;
      it = up_pending_.erase(it);
      refuse_publish(done, token, ReturnCode::RejectedNotSupported,
                     "in flight while the broker dropped the connection " +
                         std::to_string(kLossesBeforeRefusal) + " times (refused?)",
                     out);
      continue;
    }
    ++it;
  }
}

void Session::on_subscribe(const mqttsn::Subscribe& m, Actions& out) {
  const auto refuse = [&](ReturnCode rc, const std::string& why) {
    send(out, mqttsn::SubAck{{}, 0, m.msg_id, rc});
    log(out, LogLevel::Warn, who() + "SUBSCRIBE refused: " + why);
  };
  if (m.flags.qos == mqttsn::QoS::MinusOne)
    return refuse(ReturnCode::RejectedNotSupported, "QoS -1");
  const bool pending = std::any_of(up_pending_.begin(), up_pending_.end(), [&](const auto& kv) {
    return kv.second.kind == UpKind::Subscribe && kv.second.msg_id == m.msg_id;
  });
  if (pending) return;  // repeated while the broker has not answered

  std::string filter;
  std::uint16_t topic_id = 0;
  bool normal = false;
  switch (m.flags.topic_id_type) {
    case TopicIdType::Normal:
      filter = m.topic_name;
      if (!mqttsn::valid_topic_filter(filter))
        return refuse(ReturnCode::RejectedNotSupported,
                      "invalid topic filter '" + mqttsn::printable(filter) + "'");
      if (refused_by_caps(m, filter, !mqttsn::has_wildcard(filter), out)) return;
      if (!mqttsn::has_wildcard(filter)) {  // §6.9: wildcard filters get topic id 0
        const auto id = topics_.assign(filter);
        if (!id) return refuse(ReturnCode::RejectedCongestion, "no topic id left");
        topic_id = *id;
        normal = true;
      }
      break;
    case TopicIdType::Predefined: {
      const auto* name = topics_.predefined_name(m.topic_id);
      if (!name)
        return refuse(ReturnCode::RejectedInvalidTopicId,
                      "unknown predefined topic id " + std::to_string(m.topic_id));
      filter = *name;
      topic_id = m.topic_id;
      break;
    }
    case TopicIdType::Short:
      filter = mqttsn::short_topic_name(m.topic_id);
      if (!mqttsn::valid_topic_filter(filter))
        return refuse(ReturnCode::RejectedNotSupported,
                      "invalid short topic '" + mqttsn::printable(filter) + "'");
      topic_id = m.topic_id;
      break;
  }
  if (m.flags.topic_id_type != TopicIdType::Normal && refused_by_caps(m, filter, false, out))
    return;
  const int qos = qos_value(m.flags.qos);
  // A new subscription is a new wish to receive: forget earlier REGISTER rejections.
  topics_.clear_rejections();
  const auto token = new_token();
  up_pending_[token] = UpPending{UpKind::Subscribe, m.msg_id, topic_id, filter, qos, normal};
  out.emplace_back(act::SubscribeUpstream{token, std::move(filter), qos});
}

void Session::on_subscribed(const ev::UpstreamSubscribed& e, Actions& out) {
  auto it = up_pending_.find(e.token);
  if (it == up_pending_.end()) return;
  const UpPending p = std::move(it->second);
  up_pending_.erase(it);
  if (p.kind != UpKind::Subscribe) {
    if (!e.ok) log(out, LogLevel::Warn, who() + "re-subscription refused by the broker");
    return;
  }
  if (!e.ok) {
    const ReturnCode rc = subscribe_refusal_return_code(e.reason_code);
    send(out, mqttsn::SubAck{{}, 0, p.msg_id, rc});
    log(out, LogLevel::Warn,
        who() + "broker refused the subscription to '" + mqttsn::printable(p.filter) + "'" +
            (e.reason_code != 0 ? ", reason 0x" + hex_byte(e.reason_code) : std::string()) +
            ": SUBACK " + std::string(mqttsn::to_string(rc)));
    return;
  }
  const int granted = std::clamp(e.granted_qos, 0, 2);
  subscriptions_[p.filter] = granted;
  if (p.normal_topic) topics_.set_known_by_client(p.topic_id, true);
  mqttsn::Flags flags;
  flags.qos = static_cast<mqttsn::QoS>(granted);
  send(out, mqttsn::SubAck{flags, p.topic_id, p.msg_id, ReturnCode::Accepted});
}

void Session::on_unsubscribe(const mqttsn::Unsubscribe& m, Actions& out) {
  const bool pending = std::any_of(up_pending_.begin(), up_pending_.end(), [&](const auto& kv) {
    return kv.second.kind == UpKind::Unsubscribe && kv.second.msg_id == m.msg_id;
  });
  if (pending) return;
  std::optional<std::string> filter;
  if (m.flags.topic_id_type == TopicIdType::Normal)
    filter = m.topic_name;
  else
    filter = topics_.resolve(m.flags.topic_id_type, m.topic_id);
  if (!filter || filter->empty() || !upstream_started_) {
    send(out, mqttsn::UnsubAck{m.msg_id});  // nothing to undo
    return;
  }
  subscriptions_.erase(*filter);  // stop delivering now, whatever the broker still sends
  const auto token = new_token();
  up_pending_[token] = UpPending{UpKind::Unsubscribe, m.msg_id, 0, *filter, 0, false};
  out.emplace_back(act::UnsubscribeUpstream{token, *filter});
}

void Session::on_unsubscribed(const ev::UpstreamUnsubscribed& e, Actions& out) {
  auto it = up_pending_.find(e.token);
  if (it == up_pending_.end()) return;
  const UpPending p = std::move(it->second);
  up_pending_.erase(it);
  if (p.kind == UpKind::Unsubscribe) send(out, mqttsn::UnsubAck{p.msg_id});
}

}  // namespace gw
