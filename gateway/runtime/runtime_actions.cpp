// Runtime, actions out: the only place that carries out what a session decided (send to the
// sensor, open / drive / retire its upstream client, end or park it, log), then notes it for the
// store and reschedules its deadline.
#include <spdlog/spdlog.h>

#include <utility>

#include "gateway/core/overloaded.hpp"
#include "gateway/runtime/runtime.hpp"
#include "gateway/upstream/aggregator.hpp"
#include "gateway/upstream/sensor_credentials.hpp"
#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

std::string Runtime::describe(const Entry& e) const {
  return "ClientId=" + mqttsn::printable(e.client_id) + " " +
         (e.address ? address_text(*e.address) : "(no address)");
}

void Runtime::send(const SensorAddress& to, const mqttsn::Message& msg) {
  transport::Transport* t = transports_[static_cast<std::size_t>(to.peer.kind)];
  if (t == nullptr) return;
  mqttsn::Bytes bytes = mqttsn::encode(msg);
  if (bytes.empty()) {
    ++counters_.encode_errors;
    util::log_limited("encode error", spdlog::level::err, "cannot encode {} for {}",
                      mqttsn::to_string(msg), address_text(to));
    return;
  }
  if (!to.node_id.empty()) {
    // Behind a forwarder: wrap the reply the way the request came (§5.5).
    mqttsn::Encapsulated enc;
    enc.wireless_node_id.assign(to.node_id.begin(), to.node_id.end());
    enc.message = std::move(bytes);
    bytes = mqttsn::encode(enc);
    if (bytes.empty()) {
      ++counters_.encode_errors;
      return;
    }
  }
  ++counters_.datagrams_out;
  t->send(to.peer, bytes);
}

void Runtime::carry_out(Entry& e, Actions&& actions, TimePoint now) {
  for (auto& action : actions) {
    bool ended = false;
    std::visit(
        Overloaded{
            [&](act::SendToClient& a) {
              if (e.address) send(*e.address, a.msg);
            },
            [&](act::ConnectUpstream& a) {
              if (!aggregator_ && refuse_without_credentials(e, a.client_id)) return;
              request_upstream(e, std::move(a));  // runtime_connects.cpp
            },
            [&](act::ReconnectUpstream& a) {
              if (e.upstream) request_upstream(e, std::move(a));
            },
            [&](act::PublishUpstream& a) {
              if (e.session.state() == SessionState::Lost &&
                  (!e.upstream || !e.upstream->connected())) {
                // The will of a sensor lost while its upstream connection is down (reconnecting):
                // the Paho connection that held it is gone, so the shared client publishes it.
                publish_will_via_gateway(e, a);
                return;
              }
              if (e.upstream)
                e.upstream->publish(a.token, a.topic, a.payload, a.qos, a.retain);
              else if (a.token != 0)
                mailbox_.post(
                    MailboxEvent{e.id, UpstreamEvent{ev::UpstreamPublishFailed{a.token}}});
              else
                ++counters_.qos0_no_upstream;
            },
            [&](act::SubscribeUpstream& a) {
              if (e.upstream)
                e.upstream->subscribe(a.token, a.filter, a.qos);
              else
                mailbox_.post(
                    MailboxEvent{e.id, UpstreamEvent{ev::UpstreamSubscribed{a.token, false, 0}}});
            },
            [&](act::UnsubscribeUpstream& a) {
              if (e.upstream)
                e.upstream->unsubscribe(a.token, a.filter);
              else
                mailbox_.post(MailboxEvent{e.id, UpstreamEvent{ev::UpstreamUnsubscribed{a.token}}});
            },
            [&](act::DisconnectUpstream&) {
              upstream_connect_over(e.id);
              if (e.upstream) pool_.retire(e.id, std::move(e.upstream));
            },
            [&](act::EndSession& a) {
              hint_peer_idle(e, true);
              end_session(e, a.lost);
              ended = true;
            },
            [&](act::Log& a) {
              const auto level = a.level == LogLevel::Debug  ? spdlog::level::debug
                                 : a.level == LogLevel::Info ? spdlog::level::info
                                 : a.level == LogLevel::Warn ? spdlog::level::warn
                                                             : spdlog::level::err;
              // Peers can provoke these at will (protocol errors): limited like the rest.
              util::log_limited(level >= spdlog::level::warn ? "session protocol" : "session event",
                                level, "session {}: {}", describe(e), a.text);
            },
        },
        action);
    if (ended) return;  // `e` is gone; nothing after EndSession is carried out
  }
  static_cast<void>(now);
  hint_peer_idle(e, e.session.state() == SessionState::Asleep ||
                        e.session.state() == SessionState::Disconnected);
  note_changed(e);
  reschedule(e);
}

// A sleeping sensor needs no link: a link-based transport (BLE) may release it (docs/ble.md).
void Runtime::hint_peer_idle(Entry& e, bool idle) {
  if (idle == e.peer_idle || !e.address) return;
  e.peer_idle = idle;
  if (auto* t = transports_[static_cast<std::size_t>(e.address->peer.kind)])
    t->set_peer_idle(e.address->peer, idle);
}

bool Runtime::refuse_without_credentials(const Entry& e, const std::string& client_id) {
  const auto c = sensor_credentials(options_.upstream.security, client_id);
  if (c.ok) return false;
  // Nothing reaches the broker: the session answers CONNACK 0x03 and logs the reason (limited).
  ++counters_.refused_credentials;
  mailbox_.post(MailboxEvent{e.id, UpstreamEvent{ev::UpstreamConnectFailed{c.reason, true}}});
  return true;
}

Result<std::unique_ptr<Upstream>> Runtime::open_upstream(const Entry& e,
                                                         const act::ConnectUpstream& a) {
  if (aggregator_) return aggregator_->open(e.id, a.client_id);
  return upstreams_->create(a.client_id, e.id, mailbox_);
}

void Runtime::publish_will_via_gateway(const Entry& e, const act::PublishUpstream& will) {
  if (!gateway_client_ || !broker_up_) {
    util::log_limited("session protocol", spdlog::level::warn,
                      "session {}: will on '{}' not published: broker unreachable", describe(e),
                      mqttsn::printable(will.topic));
    return;
  }
  util::log_limited(
      "session event", spdlog::level::info,
      "session {}: its upstream is down: will on '{}' published by the gateway client", describe(e),
      mqttsn::printable(will.topic));
  gateway_client_->publish(0, will.topic, will.payload, will.qos, will.retain);
}

void Runtime::end_session(Entry& e, bool lost) {
  ++counters_.sessions_ended;
  note_changed(e.client_id);  // parked (rewritten) or gone (deleted)
  util::log_limited("session ended", spdlog::level::info, "session {}: ended ({})", describe(e),
                    lost ? "lost" : "disconnected");
  table_.unbind(e);
  table_.forget_client_id(e);
  upstream_connect_over(e.id);
  reconnects_.forget(e.id);
  // A lost session has published its will itself (Session), so this is a clean disconnect too.
  // A parked one keeps no upstream client either: its upstream session was CleanSession=false,
  // so the broker keeps its subscriptions until it resumes and connects again.
  if (e.upstream) pool_.retire(e.id, std::move(e.upstream));
  const bool parks = !lost && !e.session.clean_session() && !stopping_;
  std::unique_ptr<Entry> entry = table_.take(e.id);
  if (entry && parks) {
    // CleanSession=false: its topic ids stay valid for its next CONNECT (§6.3), so keep it.
    entry->scheduled.reset();
    park(std::move(entry), now_());
  }
}

}  // namespace gw
