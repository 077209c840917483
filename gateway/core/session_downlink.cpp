// Session: broker-to-client traffic (§6.10, §6.14 buffering). One gateway-to-client QoS 1/2
// PUBLISH, PUBREL or REGISTER in flight at a time; the rest waits in the outbox, in order.
#include <algorithm>
#include <utility>

#include "gateway/core/session.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"

namespace gw {

namespace {
using mqttsn::ReturnCode;
}  // namespace

bool Session::delivering() const noexcept {
  return state_ == SessionState::Active || state_ == SessionState::Awake;
}

void Session::on_upstream_message(const ev::UpstreamMessage& e, TimePoint now, Actions& out) {
  if (too_big_for_client(e, out)) return;  // Paho has acknowledged it to the broker already
  if (topics_.rejected(e.topic)) {
    log(out, LogLevel::Debug,
        who() + "'" + mqttsn::printable(e.topic) + "' was refused by the client, not sent");
    return;
  }
  // QoS = min(subscription, message). A broker-side session we have no record of (a
  // CleanSession=false reconnect after this object was gone) delivers at the message's QoS.
  int sub_qos = -1;
  for (const auto& [filter, qos] : subscriptions_)
    if (mqttsn::topic_matches(filter, e.topic)) sub_qos = std::max(sub_qos, qos);
  if (sub_qos < 0) sub_qos = 2;
  Outgoing m{e.topic, e.payload, std::clamp(std::min(sub_qos, e.qos), 0, 2), e.retained, 0, false};
  for (const auto& d : outbox_.push_back(std::move(m))) {
    log(out, LogLevel::Warn,
        who() + "buffer full (" + to_string(d.reason) + "), dropped a QoS " +
            std::to_string(d.message.qos) + " message on '" + mqttsn::printable(d.message.topic) +
            "' (" + std::to_string(outbox_.dropped()) + " dropped so far)");
  }
  pump(now, out);
}

Actions Session::on_parked_message(const ev::UpstreamMessage& e, TimePoint now) {
  Actions out;
  if (state_ != SessionState::Disconnected || clean_session_) return out;
  on_upstream_message(e, now, out);  // buffered only: pump() sends nothing while disconnected
  if (e.qos > 0) ++revision_;        // QoS 1/2 is kept in the state store
  return out;
}

void Session::pump(TimePoint now, Actions& out) {
  if (!delivering()) return;
  if (inflight_ && inflight_->parked) {
    // A PUBREL interrupted by sleep or reconnect: finish that exchange first.
    Inflight f = std::move(*inflight_);
    inflight_.reset();
    f.parked = false;
    send_in_flight(std::move(f), now, out);
  }
  // A sensor's own QoS 1/2 PUBLISH is acknowledged before anything the broker sent after it (its
  // echo comes before the broker's PUBACK): clients that read one packet after a PUBLISH expect
  // the PUBACK. What arrives meanwhile waits in the outbox, within its caps.
  while (!inflight_ && !outbox_.empty() && !uplink_ack_pending()) {
    const Outgoing& next = outbox_.front();
    if (topics_.rejected(next.topic)) {
      outbox_.pop_front();
      continue;
    }
    const auto topic = topics_.for_client(next.topic);
    if (!topic) {
      log(out, LogLevel::Warn,
          who() + "no topic id left for '" + mqttsn::printable(next.topic) + "', message dropped");
      outbox_.pop_front();
      continue;
    }
    if (topic->needs_register) {
      // §6.10: REGISTER, wait for REGACK, then the PUBLISH (which stays at the head meanwhile).
      const auto msg_id = new_msg_id();
      Inflight f;
      f.kind = FlightKind::Register;
      f.msg_id = msg_id;
      f.sent = mqttsn::Register{topic->id, msg_id, next.topic};
      f.item.topic = next.topic;
      f.topic_id = topic->id;
      send_in_flight(std::move(f), now, out);
      break;
    }
    Outgoing m = outbox_.pop_front();
    mqttsn::Publish p;
    p.flags.dup = m.dup;
    p.flags.qos = static_cast<mqttsn::QoS>(m.qos);
    p.flags.retain = m.retain;
    p.flags.topic_id_type = topic->type;
    p.topic_id = topic->id;
    p.data = m.payload;
    if (m.qos == 0) {
      send(out, std::move(p));
      continue;
    }
    p.msg_id = m.msg_id != 0 ? m.msg_id : new_msg_id();
    Inflight f;
    f.kind = FlightKind::Publish;
    f.msg_id = p.msg_id;
    f.sent = std::move(p);
    f.item = std::move(m);
    f.topic_id = topic->id;
    send_in_flight(std::move(f), now, out);
  }
  if (state_ == SessionState::Awake && !inflight_ && outbox_.empty()) {
    // §6.14: the transfer is closed by PINGRESP; asleep again with the timer restarted.
    send(out, mqttsn::PingResp{});
    go_asleep(now);
  }
}

bool Session::uplink_ack_pending() const noexcept {
  return std::any_of(up_pending_.begin(), up_pending_.end(), [](const auto& kv) {
    return kv.second.kind == UpKind::Publish1 || kv.second.kind == UpKind::Publish2;
  });
}

void Session::send_in_flight(Inflight f, TimePoint now, Actions& out) {
  f.sent_at = now;
  f.retries = 0;
  send(out, f.sent);
  inflight_ = std::move(f);
}

void Session::flight_done(TimePoint now, Actions& out) {
  inflight_.reset();
  pump(now, out);
}

void Session::on_regack(const mqttsn::RegAck& m, TimePoint now, Actions& out) {
  if (!inflight_ || inflight_->kind != FlightKind::Register || inflight_->msg_id != m.msg_id) {
    log(out, LogLevel::Debug,
        who() + "REGACK " + std::to_string(m.msg_id) + " unexpected, ignored");
    return;
  }
  const std::string topic = inflight_->item.topic;
  if (m.return_code == ReturnCode::Accepted) {
    topics_.set_known_by_client(inflight_->topic_id, true);
  } else {
    // §6.10: a rejected REGISTER is an unsubscribe from that topic name.
    topics_.reject(topic);
    const auto n = outbox_.erase_topic(topic);
    log(out, LogLevel::Info,
        who() + "client refused topic '" + mqttsn::printable(topic) + "' (" +
            std::string(mqttsn::to_string(m.return_code)) + "), " + std::to_string(n) +
            " messages dropped");
  }
  flight_done(now, out);
}

void Session::on_puback(const mqttsn::PubAck& m, TimePoint now, Actions& out) {
  if (!inflight_ || inflight_->kind != FlightKind::Publish || inflight_->msg_id != m.msg_id) {
    // §6.10: a PUBACK may also reject a QoS 0 PUBLISH's topic id.
    if (m.return_code == ReturnCode::RejectedInvalidTopicId && m.topic_id != 0 &&
        topics_.name_of(m.topic_id) != nullptr)
      topics_.set_known_by_client(m.topic_id, false);
    else
      log(out, LogLevel::Debug, who() + "PUBACK " + std::to_string(m.msg_id) + " unexpected");
    return;
  }
  if (m.return_code != ReturnCode::Accepted) {
    const auto* sent = std::get_if<mqttsn::Publish>(&inflight_->sent);
    // §6.10: an invalid topic id makes the gateway correct its assignment (REGISTER next time).
    if (m.return_code == ReturnCode::RejectedInvalidTopicId && sent &&
        sent->flags.topic_id_type == mqttsn::TopicIdType::Normal)
      topics_.set_known_by_client(inflight_->topic_id, false);
    log(out, LogLevel::Warn,
        who() + "client rejected message on '" + mqttsn::printable(inflight_->item.topic) + "' (" +
            std::string(mqttsn::to_string(m.return_code)) + ")");
  }
  flight_done(now, out);
}

void Session::on_pubrec(const mqttsn::PubRec& m, TimePoint now, Actions& out) {
  if (!inflight_ || inflight_->msg_id != m.msg_id) {
    log(out, LogLevel::Debug, who() + "PUBREC " + std::to_string(m.msg_id) + " unexpected");
    return;
  }
  if (inflight_->kind == FlightKind::PubRel) {
    send(out, inflight_->sent);  // our PUBREL was lost
    return;
  }
  const auto* sent = std::get_if<mqttsn::Publish>(&inflight_->sent);
  if (inflight_->kind != FlightKind::Publish || !sent ||
      sent->flags.qos != mqttsn::QoS::ExactlyOnce)
    return;
  Inflight f = std::move(*inflight_);
  f.kind = FlightKind::PubRel;
  f.sent = mqttsn::PubRel{m.msg_id};
  send_in_flight(std::move(f), now, out);
}

void Session::on_pubcomp(const mqttsn::PubComp& m, TimePoint now, Actions& out) {
  if (!inflight_ || inflight_->kind != FlightKind::PubRel || inflight_->msg_id != m.msg_id) {
    log(out, LogLevel::Debug, who() + "PUBCOMP " + std::to_string(m.msg_id) + " unexpected");
    return;
  }
  flight_done(now, out);
}

void Session::park_in_flight() {
  if (!inflight_) return;
  switch (inflight_->kind) {
    case FlightKind::Register:
      inflight_.reset();  // its message is still at the head of the outbox
      break;
    case FlightKind::Publish: {
      // Sent once already: the next attempt is a duplicate with the same MsgId.
      Outgoing m = std::move(inflight_->item);
      m.msg_id = inflight_->msg_id;
      m.dup = true;
      inflight_.reset();
      outbox_.push_front(std::move(m));
      break;
    }
    case FlightKind::PubRel:
      inflight_->parked = true;
      break;
  }
}

void Session::retransmit(TimePoint now, Actions& out) {
  if (!inflight_ || inflight_->parked || now < inflight_->sent_at + config_.retry_interval) return;
  if (inflight_->retries >= config_.retry_count) {
    lose("no answer to " + std::string(mqttsn::to_string(mqttsn::type_of(inflight_->sent))) +
             " after " + std::to_string(config_.retry_count) + " retransmissions",
         out);
    return;
  }
  ++inflight_->retries;
  inflight_->sent_at = now;
  if (auto* p = std::get_if<mqttsn::Publish>(&inflight_->sent)) p->flags.dup = true;
  send(out, inflight_->sent);
}

}  // namespace gw
