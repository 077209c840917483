// Session: what survives a gateway restart (SessionSnapshot) and the rebuild from it.
#include <utility>

#include "gateway/core/session.hpp"

namespace gw {

SessionSnapshot Session::snapshot() const {
  SessionSnapshot s;
  // Awake: the sensor repeats its PINGREQ when the transfer does not finish, so asleep is true.
  s.state = state_ == SessionState::Awake ? SessionState::Asleep : state_;
  s.client_id = client_id_;
  s.clean_session = clean_session_;
  s.keep_alive_s = keep_alive_s_;
  s.sleep_s = sleep_s_;
  s.will = will_;
  s.topics = topics_.registrations();
  s.next_topic_id = topics_.next_id();
  s.subscriptions.reserve(subscriptions_.size());
  for (const auto& [filter, qos] : subscriptions_) s.subscriptions.push_back({filter, qos});
  if (inflight_) {
    switch (inflight_->kind) {
      case FlightKind::Register:
        break;  // its message is still at the head of the outbox
      case FlightKind::Publish:
        if (inflight_->item.qos > 0) {
          // Sent once: after the restart it goes again as a duplicate with the same MsgId.
          Outgoing m = inflight_->item;
          m.msg_id = inflight_->msg_id;
          m.dup = true;
          s.buffered.push_back(std::move(m));
        }
        break;
      case FlightKind::PubRel:
        s.pubrel_msg_id = inflight_->msg_id;
        break;
    }
  }
  // QoS 0 is "at most once": not worth a disk write.
  for (const Outgoing& m : outbox_.items())
    if (m.qos > 0) s.buffered.push_back(m);
  s.next_msg_id = next_msg_id_;
  return s;
}

Actions Session::restore(const SessionSnapshot& s, TimePoint now) {
  Actions out;
  client_id_ = s.client_id;
  clean_session_ = s.clean_session;
  keep_alive_s_ = s.keep_alive_s;
  sleep_s_ = s.sleep_s;
  will_ = s.will;
  topics_.restore(s.topics, s.next_topic_id);
  subscriptions_.clear();
  for (const auto& sub : s.subscriptions) subscriptions_[sub.filter] = sub.qos;
  outbox_.clear();
  for (const Outgoing& m : s.buffered) outbox_.push_back(m);  // a smaller buffer now: oldest go
  inflight_.reset();
  if (s.pubrel_msg_id) {
    Inflight f;
    f.kind = FlightKind::PubRel;
    f.msg_id = *s.pubrel_msg_id;
    f.sent = mqttsn::PubRel{*s.pubrel_msg_id};
    f.parked = true;  // resent when the sensor is next reachable (pump)
    inflight_ = std::move(f);
  }
  next_msg_id_ = s.next_msg_id;
  connected_once_ = true;
  step_ = ConnectStep::None;
  last_rx_ = now;
  ++revision_;

  if (s.state == SessionState::Disconnected) {
    // Parked: its next CONNECT resumes it (resume_after_disconnect).
    state_ = SessionState::Disconnected;
    return out;
  }
  if (s.state == SessionState::Asleep || s.state == SessionState::Awake) {
    go_asleep(now);
  } else {
    state_ = SessionState::Active;
  }
  // The same path a CONNECT takes; UpstreamConnected re-subscribes if the broker forgot us.
  upstream_started_ = true;
  out.emplace_back(act::ConnectUpstream{client_id_, clean_session_, keep_alive_s_, will_});
  log(out, LogLevel::Info,
      who() + "restored " + to_string(state_) + " with " + std::to_string(topics_.size()) +
          " topic ids, " + std::to_string(subscriptions_.size()) + " subscriptions, " +
          std::to_string(outbox_.size()) + " buffered messages");
  return out;
}

}  // namespace gw
