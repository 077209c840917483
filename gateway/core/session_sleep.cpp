// Session: will updates (§6.4), DISCONNECT, PINGREQ and sleep (§6.11, §6.12, §6.14), and losing
// the client (its will published).
#include <utility>

#include "gateway/core/session.hpp"
#include "gateway/core/session_rules.hpp"
#include "mqttsn/print.hpp"

namespace gw {

using mqttsn::ReturnCode;
using session_rules::sleep_timeout;
using session_rules::valid_will;

// ---- will updates (§6.4)

void Session::on_will_topic_upd(const mqttsn::WillTopicUpd& m, Actions& out) {
  std::optional<Will> will;
  if (!m.will_topic.empty()) {  // empty: delete topic and message
    if (!valid_will(m.flags, m.will_topic)) {
      send(out, mqttsn::WillTopicResp{ReturnCode::RejectedNotSupported});
      log(out, LogLevel::Warn,
          who() + "WILLTOPICUPD with invalid topic '" + mqttsn::printable(m.will_topic) + "'");
      return;
    }
    will = Will{m.will_topic, will_ ? will_->payload : Bytes{}, static_cast<int>(m.flags.qos),
                m.flags.retain};
  }
  send(out, mqttsn::WillTopicResp{ReturnCode::Accepted});
  if (will == will_) return;
  will_ = std::move(will);
  log(out, LogLevel::Info,
      who() +
          (will_ ? "will topic now '" + mqttsn::printable(will_->topic) + "'" : "will deleted"));
  upstream_up_ = false;
  out.emplace_back(act::ReconnectUpstream{will_});
}

void Session::on_will_msg_upd(const mqttsn::WillMsgUpd& m, Actions& out) {
  if (!will_) {
    // A will message without a will topic cannot be published anywhere.
    send(out, mqttsn::WillMsgResp{ReturnCode::RejectedNotSupported});
    log(out, LogLevel::Warn, who() + "WILLMSGUPD without a will topic, refused");
    return;
  }
  send(out, mqttsn::WillMsgResp{ReturnCode::Accepted});
  if (will_->payload == m.will_msg) return;
  will_->payload = m.will_msg;
  log(out, LogLevel::Info, who() + "will message updated");
  upstream_up_ = false;
  out.emplace_back(act::ReconnectUpstream{will_});
}

// ---- disconnect, ping, sleep (§6.11, §6.12, §6.14)

void Session::on_disconnect(const mqttsn::Disconnect& d, TimePoint now, Actions& out) {
  const bool sleep = d.duration && *d.duration > 0;
  if (sleep && state_ != SessionState::Connecting) {
    send(out, mqttsn::Disconnect{});
    const bool again = state_ == SessionState::Asleep && sleep_s_ == d.duration;
    sleep_s_ = d.duration;
    go_asleep(now);
    log(out, again ? LogLevel::Debug : LogLevel::Info,
        who() + (again ? "sleep DISCONNECT repeated" : "asleep") + " for " +
            std::to_string(*d.duration) + " s");
    return;
  }
  if (sleep) {
    log(out, LogLevel::Warn, who() + "sleep DISCONNECT before CONNACK, ignored");
    return;
  }
  // §6.12: a clean DISCONNECT; the will is not published.
  send(out, mqttsn::Disconnect{});
  if (upstream_started_) out.emplace_back(act::DisconnectUpstream{});
  out.emplace_back(act::EndSession{false});
  std::string buffered;
  if (clean_session_) {
    if (!outbox_.empty())
      buffered = ", " + std::to_string(outbox_.size()) + " buffered messages dropped";
    outbox_.clear();
    inflight_.reset();
  } else {
    park_in_flight();  // kept for a CleanSession=false CONNECT that resumes this session
    if (!outbox_.empty())
      buffered = ", " + std::to_string(outbox_.size()) + " buffered messages kept";
  }
  log(out, LogLevel::Info, who() + "disconnected" + buffered);
  state_ = SessionState::Disconnected;
  step_ = ConnectStep::None;
}

void Session::resume_after_disconnect() {
  upstream_started_ = false;
  upstream_up_ = false;
  // Tokens of the closed upstream client will never be answered.
  up_pending_.clear();
  std::erase_if(qos2_in_, [](const auto& kv) { return !kv.second.delivered; });
}

void Session::on_pingreq(TimePoint now, Actions& out) {
  switch (state_) {
    case SessionState::Active:
      send(out, mqttsn::PingResp{});
      break;
    case SessionState::Asleep:
      // §6.14: awake; buffered messages go out, then PINGRESP, then asleep again (in pump).
      state_ = SessionState::Awake;
      log(out, LogLevel::Debug,
          who() + "awake, " + std::to_string(outbox_.size()) + " buffered messages");
      pump(now, out);
      break;
    case SessionState::Awake:
      // The client repeats its PINGREQ while we are still sending: the retransmission timer covers
      // it.
      log(out, LogLevel::Debug, who() + "PINGREQ repeated while awake");
      break;
    case SessionState::Connecting:
      log(out, LogLevel::Warn, who() + "PINGREQ before CONNACK, ignored");
      break;
    case SessionState::Lost:
    case SessionState::Disconnected:
      break;
  }
}

void Session::go_asleep(TimePoint now) {
  park_in_flight();
  state_ = SessionState::Asleep;
  sleep_deadline_ = now + sleep_timeout(sleep_s_.value_or(0));
}

void Session::lose(const std::string& why, Actions& out) {
  log(out, LogLevel::Warn,
      who() + "lost: " + why +
          (will_ ? "; publishing will on '" + mqttsn::printable(will_->topic) + "'" : ""));
  if (will_ && upstream_started_) {
    const std::uint32_t token = will_->qos > 0 ? new_token() : 0;
    if (token != 0) up_pending_[token] = UpPending{UpKind::Internal, 0, 0, {}, 0, false};
    out.emplace_back(
        act::PublishUpstream{token, will_->topic, will_->payload, will_->qos, will_->retain});
  }
  if (upstream_started_) out.emplace_back(act::DisconnectUpstream{});
  out.emplace_back(act::EndSession{true});
  state_ = SessionState::Lost;
  step_ = ConnectStep::None;
}

}  // namespace gw
