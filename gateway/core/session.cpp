// Session: connection setup (§6.2, §6.3), keep-alive supervision and the upstream connection
// events. Will updates and sleep: session_sleep.cpp; uplink and downlink traffic:
// session_uplink.cpp / session_downlink.cpp.
#include "gateway/core/session.hpp"

#include <algorithm>
#include <utility>

#include "gateway/core/session_rules.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"

namespace gw {

using mqttsn::ReturnCode;
using session_rules::keep_alive_timeout;
using session_rules::valid_will;

const char* to_string(SessionState s) noexcept {
  switch (s) {
    case SessionState::Connecting:
      return "connecting";
    case SessionState::Active:
      return "active";
    case SessionState::Asleep:
      return "asleep";
    case SessionState::Awake:
      return "awake";
    case SessionState::Lost:
      return "lost";
    case SessionState::Disconnected:
      return "disconnected";
  }
  return "?";
}

Session::Session(SessionConfig config, TimePoint now)
    : config_(std::move(config)),
      last_rx_(now),
      topics_(config_.predefined),
      outbox_(config_.max_buffered, config_.max_buffered_bytes, config_.budget) {}

SessionState Session::state() const noexcept {
  return state_;
}
const std::string& Session::client_id() const noexcept {
  return client_id_;
}

namespace {
// Packets that never change what a snapshot holds unless they change the state (PINGREQ waking a
// sleeping sensor): the uplink hot path.
bool snapshot_neutral(const mqttsn::Message& msg) {
  return std::holds_alternative<mqttsn::Publish>(msg) ||
         std::holds_alternative<mqttsn::PubRel>(msg) ||
         std::holds_alternative<mqttsn::PingReq>(msg) ||
         std::holds_alternative<mqttsn::PingResp>(msg);
}
}  // namespace

Actions Session::on_packet(const mqttsn::Message& msg, TimePoint now) {
  Actions out;
  const SessionState before = state_;
  on_packet_inner(msg, nullptr, now, out);
  if (state_ != before || !snapshot_neutral(msg)) ++revision_;
  return out;
}

void Session::on_packet(mqttsn::Message&& msg, TimePoint now, Actions& out) {
  const SessionState before = state_;
  on_packet_inner(msg, &msg, now, out);
  if (state_ != before || !snapshot_neutral(msg)) ++revision_;
}

void Session::on_packet_inner(const mqttsn::Message& msg, mqttsn::Message* owned, TimePoint now,
                              Actions& out) {
  if (state_ == SessionState::Disconnected && std::holds_alternative<mqttsn::Connect>(msg)) {
    // A CleanSession=false session kept by the runtime after a clean DISCONNECT (§6.3, §6.12):
    // its subscriptions, topic ids and will carry over; its upstream client was closed.
    resume_after_disconnect();
  } else if (state_ == SessionState::Lost || state_ == SessionState::Disconnected) {
    log(out, LogLevel::Debug, who() + "packet after the session ended, ignored");
    return;
  }
  last_rx_ = now;  // any packet proves the client alive (§6.11)

  if (const auto* c = std::get_if<mqttsn::Connect>(&msg)) {
    on_connect(*c, now, out);
  } else if (const auto* d = std::get_if<mqttsn::Disconnect>(&msg)) {
    on_disconnect(*d, now, out);
  } else if (std::holds_alternative<mqttsn::PingReq>(msg)) {
    on_pingreq(now, out);
  } else if (const auto* wt = std::get_if<mqttsn::WillTopic>(&msg)) {
    on_will_topic(*wt, now, out);
  } else if (const auto* wm = std::get_if<mqttsn::WillMsg>(&msg)) {
    on_will_msg(*wm, now, out);
  } else if (state_ != SessionState::Active && state_ != SessionState::Awake) {
    // Asleep: the client must wake (PINGREQ) or CONNECT first; Connecting: no CONNACK yet.
    log(out, LogLevel::Warn,
        who() + std::string(mqttsn::to_string(mqttsn::type_of(msg))) + " while " +
            to_string(state_) + ", ignored");
  } else if (const auto* r = std::get_if<mqttsn::Register>(&msg)) {
    on_register(*r, out);
  } else if (const auto* p = std::get_if<mqttsn::Publish>(&msg)) {
    on_publish(*p, owned != nullptr ? &std::get<mqttsn::Publish>(*owned).data : nullptr, out);
  } else if (const auto* rel = std::get_if<mqttsn::PubRel>(&msg)) {
    on_pubrel(*rel, out);
  } else if (const auto* s = std::get_if<mqttsn::Subscribe>(&msg)) {
    on_subscribe(*s, out);
  } else if (const auto* u = std::get_if<mqttsn::Unsubscribe>(&msg)) {
    on_unsubscribe(*u, out);
  } else if (const auto* ra = std::get_if<mqttsn::RegAck>(&msg)) {
    on_regack(*ra, now, out);
  } else if (const auto* pa = std::get_if<mqttsn::PubAck>(&msg)) {
    on_puback(*pa, now, out);
  } else if (const auto* rec = std::get_if<mqttsn::PubRec>(&msg)) {
    on_pubrec(*rec, now, out);
  } else if (const auto* comp = std::get_if<mqttsn::PubComp>(&msg)) {
    on_pubcomp(*comp, now, out);
  } else if (const auto* wtu = std::get_if<mqttsn::WillTopicUpd>(&msg)) {
    on_will_topic_upd(*wtu, out);
  } else if (const auto* wmu = std::get_if<mqttsn::WillMsgUpd>(&msg)) {
    on_will_msg_upd(*wmu, out);
  } else if (std::holds_alternative<mqttsn::PingResp>(msg)) {
    // An answer to nothing we sent (the gateway does not ping clients): harmless.
  } else {
    log(out, LogLevel::Warn,
        who() + std::string(mqttsn::to_string(mqttsn::type_of(msg))) +
            " is not a client-to-gateway message here, ignored");
  }
}

Actions Session::on_upstream(const UpstreamEvent& event, TimePoint now) {
  Actions out;
  if (state_ == SessionState::Lost || state_ == SessionState::Disconnected) return out;
  const SessionState before = state_;
  if (const auto* c = std::get_if<ev::UpstreamConnected>(&event)) {
    on_upstream_connected(*c, now, out);
  } else if (const auto* f = std::get_if<ev::UpstreamConnectFailed>(&event)) {
    on_upstream_connect_failed(*f, out);
  } else if (const auto* l = std::get_if<ev::UpstreamLost>(&event)) {
    if (l->taken_over) {
      on_taken_over(out);
    } else {
      // Paho reconnects on its own; meanwhile QoS 1/2 uplink stays unacknowledged until delivered.
      upstream_up_ = false;
      log(out, LogLevel::Warn, who() + "upstream connection lost: " + l->reason);
      on_upstream_lost(out);
      pump(now, out);  // a PUBLISH refused above no longer holds the downlink
    }
  } else if (const auto* m = std::get_if<ev::UpstreamMessage>(&event)) {
    on_upstream_message(*m, now, out);
  } else if (const auto* d = std::get_if<ev::UpstreamDelivered>(&event)) {
    on_delivered(*d, out);
    pump(now, out);  // what the broker sent after the sensor's PUBLISH follows its PUBACK
  } else if (const auto* pf = std::get_if<ev::UpstreamPublishFailed>(&event)) {
    on_publish_failed(*pf, out);
    pump(now, out);
  } else if (const auto* s = std::get_if<ev::UpstreamSubscribed>(&event)) {
    on_subscribed(*s, out);
  } else if (const auto* u = std::get_if<ev::UpstreamUnsubscribed>(&event)) {
    on_unsubscribed(*u, out);
  }
  // A QoS 0 message that went straight out (or was buffered: QoS 0 is not kept) changes nothing
  // a snapshot holds; a subscription granted or a QoS 1/2 message buffered does.
  const auto* m = std::get_if<ev::UpstreamMessage>(&event);
  if (state_ != before || std::holds_alternative<ev::UpstreamSubscribed>(event) ||
      (m != nullptr && m->qos > 0))
    ++revision_;
  return out;
}

Actions Session::on_timer(TimePoint now) {
  const SessionState before = state_;
  Actions out = on_timer_inner(now);
  if (state_ != before) ++revision_;
  return out;
}

Actions Session::on_timer_inner(TimePoint now) {
  Actions out;
  switch (state_) {
    case SessionState::Connecting:
      if ((step_ == ConnectStep::WaitWillTopic || step_ == ConnectStep::WaitWillMsg) &&
          now >= will_deadline_)
        lose("the will exchange of CONNECT was not completed", out);
      else if (step_ == ConnectStep::WaitUpstream && config_.connect_timeout.count() > 0 &&
               now >= upstream_deadline_)
        // Every CONNECT gets an answer in time, even in a connect storm (docs/design.md).
        refuse_connection(ReturnCode::RejectedCongestion,
                          "upstream not connected within " +
                              std::to_string(config_.connect_timeout.count()) + " ms",
                          out);
      break;
    case SessionState::Active:
      if (keep_alive_s_ > 0 && now >= last_rx_ + keep_alive_timeout(keep_alive_s_)) {
        lose("nothing received for 1.5 x the keep-alive of " + std::to_string(keep_alive_s_) + " s",
             out);
        break;
      }
      retransmit(now, out);
      break;
    case SessionState::Asleep:
      if (now >= sleep_deadline_)
        lose("sleep timer expired (sleep duration " + std::to_string(sleep_s_.value_or(0)) + " s)",
             out);
      break;
    case SessionState::Awake:
      retransmit(now, out);
      break;
    case SessionState::Lost:
    case SessionState::Disconnected:
      break;
  }
  return out;
}

std::optional<TimePoint> Session::next_deadline() const {
  std::optional<TimePoint> retry;
  if (inflight_ && !inflight_->parked) retry = inflight_->sent_at + config_.retry_interval;
  switch (state_) {
    case SessionState::Connecting:
      if (step_ == ConnectStep::WaitWillTopic || step_ == ConnectStep::WaitWillMsg)
        return will_deadline_;
      if (step_ == ConnectStep::WaitUpstream && config_.connect_timeout.count() > 0)
        return upstream_deadline_;
      return std::nullopt;
    case SessionState::Active:
      if (keep_alive_s_ > 0) {
        const TimePoint ka = last_rx_ + keep_alive_timeout(keep_alive_s_);
        return retry ? std::min(ka, *retry) : ka;
      }
      return retry;
    case SessionState::Asleep:
      return sleep_deadline_;
    case SessionState::Awake:
      return retry;
    case SessionState::Lost:
    case SessionState::Disconnected:
      return std::nullopt;
  }
  return std::nullopt;
}

// ---- connection setup (§6.2, §6.3)

void Session::on_connect(const mqttsn::Connect& c, TimePoint now, Actions& out) {
  if (c.protocol_id != 0x01) {
    // §6.2: a CONNECT the gateway cannot accept gets CONNACK with the reason.
    refuse_connection(ReturnCode::RejectedNotSupported,
                      "CONNECT with ProtocolId " + std::to_string(c.protocol_id) + " (not 0x01)",
                      out);
    return;
  }
  if (!client_id_.empty() && c.client_id != client_id_) {
    // The runtime routes by exact ClientId; a different one here is its bug, not a takeover.
    log(out, LogLevel::Error,
        who() + "CONNECT for another ClientId '" + mqttsn::printable(c.client_id) + "', ignored");
    return;
  }
  if (state_ == SessionState::Connecting && step_ == ConnectStep::WaitUpstream) {
    // The client repeated its CONNECT while the broker connection is being made: one is enough.
    log(out, LogLevel::Debug, who() + "CONNECT repeated while connecting upstream, ignored");
    return;
  }
  client_id_ = c.client_id;
  if (state_ != SessionState::Connecting)
    log(out, LogLevel::Info,
        who() + "CONNECT while " + to_string(state_) + ": connection set up again");
  park_in_flight();
  state_ = SessionState::Connecting;
  sleep_s_.reset();
  pending_ = PendingConnect{c.flags.clean_session, c.flags.will, c.duration, std::nullopt};
  if (c.flags.will) {
    step_ = ConnectStep::WaitWillTopic;
    will_deadline_ = now + config_.retry_interval * (config_.retry_count + 1);
    send(out, mqttsn::WillTopicReq{});
    return;
  }
  finish_connect(now, out);
}

void Session::on_will_topic(const mqttsn::WillTopic& m, TimePoint now, Actions& out) {
  if (state_ != SessionState::Connecting || step_ != ConnectStep::WaitWillTopic) {
    log(out, LogLevel::Warn, who() + "WILLTOPIC without WILLTOPICREQ, ignored");
    return;
  }
  if (m.will_topic.empty()) {
    // §6.3: an empty WILLTOPIC deletes the will; there is no will message to ask for.
    pending_.will.reset();
    finish_connect(now, out);
    return;
  }
  if (!valid_will(m.flags, m.will_topic)) {
    refuse_connection(ReturnCode::RejectedNotSupported,
                      "invalid will topic '" + mqttsn::printable(m.will_topic) + "'", out);
    return;
  }
  pending_.will = Will{m.will_topic, {}, static_cast<int>(m.flags.qos), m.flags.retain};
  step_ = ConnectStep::WaitWillMsg;
  will_deadline_ = now + config_.retry_interval * (config_.retry_count + 1);
  send(out, mqttsn::WillMsgReq{});
}

void Session::on_will_msg(const mqttsn::WillMsg& m, TimePoint now, Actions& out) {
  if (state_ != SessionState::Connecting || step_ != ConnectStep::WaitWillMsg || !pending_.will) {
    log(out, LogLevel::Warn, who() + "WILLMSG without WILLMSGREQ, ignored");
    return;
  }
  pending_.will->payload = m.will_msg;
  finish_connect(now, out);
}

void Session::finish_connect(TimePoint now, Actions& out) {
  const bool clean = pending_.clean_session;
  // §6.3: CleanSession deletes the stored will; Will=true replaces it with what was just sent.
  std::optional<Will> will = pending_.will_flag ? pending_.will : (clean ? std::nullopt : will_);
  if (clean) {
    if (upstream_started_) {
      for (const auto& [filter, qos] : subscriptions_) {
        const auto token = new_token();
        up_pending_[token] = UpPending{UpKind::Internal, 0, 0, {}, 0, false};
        out.emplace_back(act::UnsubscribeUpstream{token, filter});
      }
    }
    subscriptions_.clear();
    topics_.clear();
  } else if (connected_once_) {
    // The client may have lost its table: tell it the names again before using the ids.
    topics_.forget_client_knowledge();
  }
  const bool will_changed = will != will_;
  will_ = std::move(will);
  clean_session_ = clean;
  keep_alive_s_ = supervised_keep_alive(pending_.duration, out);

  upstream_deadline_ = now + config_.connect_timeout;
  if (!upstream_started_) {
    upstream_started_ = true;
    step_ = ConnectStep::WaitUpstream;
    out.emplace_back(act::ConnectUpstream{client_id_, clean, keep_alive_s_, will_});
    return;
  }
  if (will_changed) {
    // MQTT sets a will only at connect time.
    upstream_up_ = false;
    step_ = ConnectStep::WaitUpstream;
    out.emplace_back(act::ReconnectUpstream{will_});
    return;
  }
  accept_connection(now, out);
}

void Session::accept_connection(TimePoint now, Actions& out) {
  step_ = ConnectStep::None;
  state_ = SessionState::Active;
  connected_once_ = true;
  last_rx_ = now;
  send(out, mqttsn::ConnAck{ReturnCode::Accepted});
  log(out, LogLevel::Info,
      who() + "connected (keep-alive " + std::to_string(keep_alive_s_) + " s, clean session " +
          (clean_session_ ? "yes" : "no") + ", will " +
          (will_ ? "'" + mqttsn::printable(will_->topic) + "'" : "none") + ")");
  pump(now, out);  // what was buffered while asleep or connecting
}

void Session::refuse_connection(ReturnCode rc, std::string why, Actions& out) {
  send(out, mqttsn::ConnAck{rc});
  log(out, LogLevel::Warn, who() + "connection refused: " + why);
  // A failed upstream connect has nothing to close; the runtime drops the client on EndSession.
  if (upstream_up_) out.emplace_back(act::DisconnectUpstream{});
  out.emplace_back(act::EndSession{false});
  state_ = SessionState::Disconnected;
  step_ = ConnectStep::None;
}

void Session::on_taken_over(Actions& out) {
  // The sensor connected through another gateway, whose connection now holds the broker session:
  // reconnecting would take it back. End here, without a will (the broker session goes on); a
  // CleanSession=false session is parked as after a DISCONNECT, should the sensor come back.
  log(out, LogLevel::Info,
      who() + "broker session taken over by another connection (sensor at another gateway?)");
  send(out, mqttsn::Disconnect{});
  if (upstream_started_) out.emplace_back(act::DisconnectUpstream{});
  out.emplace_back(act::EndSession{false});
  state_ = SessionState::Disconnected;
  step_ = ConnectStep::None;
}

void Session::on_upstream_connected(const ev::UpstreamConnected& e, TimePoint now, Actions& out) {
  upstream_up_ = true;
  if (e.in_flight_lost) fail_in_flight(out);
  if (!e.session_present) resubscribe(out);
  if (state_ == SessionState::Connecting && step_ == ConnectStep::WaitUpstream) {
    accept_connection(now, out);
    return;
  }
  log(out, LogLevel::Info, who() + "upstream connected again");
}

void Session::on_upstream_connect_failed(const ev::UpstreamConnectFailed& e, Actions& out) {
  upstream_up_ = false;
  if (state_ == SessionState::Connecting && step_ == ConnectStep::WaitUpstream) {
    // docs/design.md: broker down -> congestion, rather than leaving the sensor hanging.
    refuse_connection(
        e.permanent ? ReturnCode::RejectedNotSupported : ReturnCode::RejectedCongestion,
        "upstream connect failed: " + e.reason, out);
    return;
  }
  log(out, LogLevel::Warn, who() + "upstream connect failed: " + e.reason);
}

void Session::fail_in_flight(Actions& out) {
  // As if each had failed: a PUBLISH is not acknowledged (the sensor's retry goes out afresh), a
  // SUBSCRIBE or UNSUBSCRIBE is answered as the broker's failure would be.
  std::vector<std::pair<std::uint32_t, UpKind>> in_flight;
  in_flight.reserve(up_pending_.size());
  for (const auto& [token, p] : up_pending_) in_flight.emplace_back(token, p.kind);
  for (const auto& [token, kind] : in_flight) {
    switch (kind) {
      case UpKind::Publish1:
      case UpKind::Publish2:
        on_publish_failed(ev::UpstreamPublishFailed{.token = token, .link_down = true}, out);
        break;
      case UpKind::Subscribe:
      case UpKind::Internal:
        on_subscribed(ev::UpstreamSubscribed{token, false, 0}, out);
        break;
      case UpKind::Unsubscribe:
        on_unsubscribed(ev::UpstreamUnsubscribed{token}, out);
        break;
    }
  }
}

void Session::resubscribe(Actions& out) {
  // The broker has no session for us (new connection, or it forgot): subscribe again.
  for (const auto& [filter, qos] : subscriptions_) {
    const auto token = new_token();
    up_pending_[token] = UpPending{UpKind::Internal, 0, 0, {}, 0, false};
    out.emplace_back(act::SubscribeUpstream{token, filter, qos});
  }
}

// ---- helpers

std::uint32_t Session::new_token() {
  if (next_token_ == 0) next_token_ = 1;
  return next_token_++;
}

std::uint16_t Session::new_msg_id() {
  if (next_msg_id_ == 0) next_msg_id_ = 1;  // MsgId 0 is not used
  return next_msg_id_++;
}

void Session::send(Actions& out, mqttsn::Message m) {
  out.emplace_back(act::SendToClient{std::move(m)});
}

void Session::log(Actions& out, LogLevel level, std::string text) {
  out.emplace_back(act::Log{level, std::move(text)});
}

std::string Session::who() const {
  return (client_id_.empty() ? std::string("?") : mqttsn::printable(client_id_)) + ": ";
}

}  // namespace gw
