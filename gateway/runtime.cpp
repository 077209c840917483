#include "gateway/runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "gateway/aggregator.hpp"
#include "gateway/overloaded.hpp"
#include "gateway/sensor_credentials.hpp"
#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

namespace {

constexpr auto kUpstreamDisconnectTimeout = std::chrono::milliseconds(1000);
constexpr auto kGatewayClientRetry = std::chrono::milliseconds(2000);
constexpr auto kBurialDelay = std::chrono::milliseconds(500);
// A wake-up message every millisecond while an upstream CONNECT is under way (see wake_upstream()).
constexpr std::uint64_t kWakePeriodMs = 1;

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

std::string address_text(const SensorAddress& a) {
  std::string s = transport::to_string(a.peer);
  if (!a.node_id.empty()) s += " node " + hex(a.node_id);
  return s;
}

std::uint64_t ms_until(TimePoint when, TimePoint now) {
  if (when <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  return static_cast<std::uint64_t>(ms);
}

}  // namespace

std::size_t SensorAddressHash::operator()(const SensorAddress& a) const noexcept {
  std::size_t h = transport::PeerAddressHash{}(a.peer);
  if (!a.node_id.empty())
    h ^= std::hash<std::string>{}(a.node_id) + 0x9e3779b97f4a7c15ULL + (h << 6);
  return h;
}

Runtime::Runtime(uv_loop_t* loop, RuntimeOptions options)
    : loop_(loop),
      options_(std::move(options)),
      mailbox_(loop, [this](MailboxEvent&& e) { on_mailbox(std::move(e)); }) {
  if (options_.gateway_client_id.empty())
    options_.gateway_client_id = "mqttsn-gw-" + std::to_string(options_.gw_id);
  if (!options_.session.budget) options_.session.budget = std::make_shared<BufferBudget>();
  set_admission(std::move(options_.admission));
  // Not under '$': brokers refuse PUBLISH to $-topics from clients.
  wake_topic_ = "mqttsn-gw/" + options_.gateway_client_id + "/wake";
  for (uv_timer_t* t : {&session_timer_, &advertise_timer_, &gateway_retry_timer_, &stop_timer_,
                        &sweep_timer_, &parked_timer_, &wake_timer_}) {
    uv_timer_init(loop_, t);
    t->data = this;
    ++open_timers_;
  }
  uv_check_init(loop_, &store_check_);
  store_check_.data = this;
  ++open_timers_;
}

Runtime::~Runtime() = default;

void Runtime::add_transport(transport::Transport& t) {
  transports_[static_cast<std::size_t>(t.kind())] = &t;
}

std::string Runtime::start() {
  std::string error;
  gateway_client_ =
      UpstreamClient::create(options_.upstream, options_.gateway_client_id, 0, mailbox_, error);
  if (!gateway_client_) return "broker.uri: " + error;
  if (options_.aggregating)
    aggregator_ =
        std::make_unique<Aggregator>(mailbox_, gateway_client_, options_.parked_session_expiry);
  gateway_client_->connect(true, 60, options_.gateway_will);
  if (std::string e = open_store(); !e.empty()) return e;
  const auto period =
      static_cast<std::uint64_t>(std::chrono::milliseconds(options_.advertise_interval).count());
  uv_timer_start(
      &advertise_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->advertise(); }, period,
      period);
  return {};
}

// ---------------------------------------------------------------- datagrams in

void Runtime::on_datagram(const transport::PeerAddress& from, std::span<const std::uint8_t> bytes) {
  if (stopping_) return;
  ++counters_.datagrams;
  const auto now = Clock::now();
  if (!admit_datagram(from, now)) return;
  auto result = mqttsn::decode(bytes);
  if (auto* failure = std::get_if<mqttsn::DecodeFailure>(&result)) {
    ++counters_.malformed;
    util::log_limited("malformed datagram", spdlog::level::warn,
                      "malformed datagram from {} ({} bytes): {}", transport::to_string(from),
                      bytes.size(), mqttsn::to_string(*failure));
    return;
  }
  auto& msg = std::get<mqttsn::Message>(result);
  if (auto* enc = std::get_if<mqttsn::Encapsulated>(&msg)) {
    auto inner = mqttsn::decode(enc->message);
    if (!std::holds_alternative<mqttsn::Message>(inner)) {
      ++counters_.malformed;
      return;
    }
    SensorAddress addr{from,
                       std::string(enc->wireless_node_id.begin(), enc->wireless_node_id.end())};
    handle(addr, std::get<mqttsn::Message>(inner), now);
    return;
  }
  handle(SensorAddress{from, {}}, msg, now);
}

void Runtime::handle(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now) {
  using namespace mqttsn;
  if (!options_.admission.allow.allows_peer(from.peer)) {
    // Only a CONNECT learns why; anything else goes unanswered, so a scan learns nothing.
    if (const auto* c = std::get_if<Connect>(&msg)) {
      ++counters_.refused_network;
      refuse(from, c->client_id, ReturnCode::RejectedNotSupported, "source network not allowed");
    } else {
      ++counters_.dropped_network;
      util::log_limited("network not allowed", spdlog::level::debug,
                        "{} from {} dropped: source network not allowed", to_string(type_of(msg)),
                        address_text(from));
    }
    return;
  }
  if (std::holds_alternative<Connect>(msg)) {
    handle_connect(from, msg, now);
    return;
  }
  if (std::holds_alternative<SearchGw>(msg)) {
    send(from, GwInfo{options_.gw_id, {}});
    return;
  }
  if (std::holds_alternative<Advertise>(msg) || std::holds_alternative<GwInfo>(msg)) return;
  if (const auto* p = std::get_if<Publish>(&msg); p != nullptr && p->flags.qos == QoS::MinusOne) {
    handle_qos_minus_one(from, *p);
    return;
  }
  Entry* e = nullptr;
  if (const auto* ping = std::get_if<PingReq>(&msg); ping != nullptr && !ping->client_id.empty()) {
    // A sleeping sensor waking up: found by ClientId, its address may have changed (NAT).
    if (auto it = by_client_id_.find(ping->client_id); it != by_client_id_.end()) {
      e = find(it->second);
      if (e != nullptr && e->address != from) {
        util::log_limited("session takeover", spdlog::level::info,
                          "session {}: wakes up from new address {}", describe(*e),
                          address_text(from));
        bind(*e, from);
      }
    }
  } else if (auto it = by_address_.find(from); it != by_address_.end()) {
    e = find(it->second);
  }
  if (e == nullptr) {
    ++counters_.unknown_sender;
    util::log_limited("unknown sender", spdlog::level::debug,
                      "{} from unknown sender {}: answering DISCONNECT", to_string(type_of(msg)),
                      address_text(from));
    send(from, Disconnect{});
    return;
  }
  e->last_seen = now;
  carry_out(*e, e->session.on_packet(msg, now), now);
}

void Runtime::handle_connect(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now) {
  const auto& c = std::get<mqttsn::Connect>(msg);
  if (!options_.admission.allow.allows_client_id(c.client_id)) {
    ++counters_.refused_client_id;
    refuse(from, c.client_id, mqttsn::ReturnCode::RejectedNotSupported, "ClientId not allowed");
    return;
  }
  Entry* e = nullptr;
  if (auto it = by_client_id_.find(c.client_id); it != by_client_id_.end()) e = find(it->second);
  // The cap is on sessions: a known ClientId reconnecting or taking over adds none.
  const auto cap = options_.admission.max_sessions;
  if (e == nullptr && cap != 0 && sessions_.size() >= cap) {
    ++counters_.refused_max_sessions;
    refuse(from, c.client_id, mqttsn::ReturnCode::RejectedCongestion,
           "admission.max_sessions (" + std::to_string(cap) + ") reached");
    return;
  }
  if (e != nullptr) {
    if (e->address != from) {
      ++counters_.takeovers;
      util::log_limited("session takeover", spdlog::level::info, "session {}: taken over from {}",
                        describe(*e), address_text(from));
      bind(*e, from);
    }
  } else if (try_resume(from, msg, now)) {
    return;
  } else {
    e = &new_session(from, c.client_id, now);
  }
  e->last_seen = now;
  carry_out(*e, e->session.on_packet(msg, now), now);
}

Runtime::Entry& Runtime::new_session(const SensorAddress& from, const std::string& client_id,
                                     TimePoint now) {
  const std::uint64_t id = next_session_id_++;
  auto entry = std::make_unique<Entry>(id, options_.session, now);
  entry->client_id = client_id;
  Entry& e = *entry;
  sessions_.emplace(id, std::move(entry));
  by_client_id_[client_id] = id;
  bind(e, from);
  ++counters_.sessions_created;
  util::log_limited("session new", spdlog::level::info, "session {}: new", describe(e));
  return e;
}

bool Runtime::try_resume(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now) {
  const auto& c = std::get<mqttsn::Connect>(msg);
  std::unique_ptr<Entry> entry = unpark(c.client_id);
  if (!entry) return false;
  // CleanSession=true drops what was kept anyway.
  if (c.flags.clean_session) return false;
  Actions actions = entry->session.on_packet(msg, now);
  // The resumed session must open its upstream again (its client was closed when it parked),
  // at once or, with Will=true, once the will exchange it just started is done; a session that
  // does neither is not resumable: start afresh instead.
  const bool reconnects = std::any_of(actions.begin(), actions.end(), [&](const Action& a) {
    if (std::holds_alternative<act::ConnectUpstream>(a)) return true;
    const auto* s = std::get_if<act::SendToClient>(&a);
    return c.flags.will && s != nullptr && std::holds_alternative<mqttsn::WillTopicReq>(s->msg);
  });
  if (!reconnects) return false;
  entry->id = next_session_id_++;  // events for the old upstream client must not reach it
  entry->scheduled.reset();
  Entry& e = *entry;
  sessions_.emplace(e.id, std::move(entry));
  by_client_id_[e.client_id] = e.id;
  bind(e, from);
  e.last_seen = now;
  util::log_limited("session new", spdlog::level::info, "session {}: resumed (CleanSession=false)",
                    describe(e));
  carry_out(e, std::move(actions), now);
  return true;
}

// ---------------------------------------------------------------- admission

bool Runtime::admit_datagram(const transport::PeerAddress& from, TimePoint now) {
  if (!rate_limiter_ || rate_limiter_->allow(source_key(from), now)) return true;
  ++counters_.rate_limited;
  util::log_limited("rate limited", spdlog::level::warn,
                    "rate limit: datagram from {} dropped (admission.rate_limit_pps = {})",
                    transport::to_string(from), options_.admission.rate_limit_pps);
  return false;
}

void Runtime::refuse(const SensorAddress& from, const std::string& client_id,
                     mqttsn::ReturnCode code, const std::string& why) {
  send(from, mqttsn::ConnAck{code});
  util::log_limited("admission refused", spdlog::level::warn,
                    "admission: CONNECT refused ({}): ClientId={} {}, CONNACK 0x{:02x}", why,
                    mqttsn::printable(client_id), address_text(from), static_cast<unsigned>(code));
}

void Runtime::set_admission(AdmissionOptions admission) {
  const auto& old = options_.admission;
  const bool rate_changed = !rate_limiter_ || old.rate_limit_pps != admission.rate_limit_pps ||
                            old.rate_limit_burst != admission.rate_limit_burst ||
                            old.rate_limit_sources != admission.rate_limit_sources;
  if (rate_changed) {
    rate_limiter_.reset();
    if (admission.rate_limit_pps != 0) {
      const double burst =
          admission.rate_limit_burst != 0 ? admission.rate_limit_burst : admission.rate_limit_pps;
      rate_limiter_.emplace(admission.rate_limit_pps, burst, admission.rate_limit_sources);
    }
  }
  options_.admission = std::move(admission);
  // Sessions already connected keep going until they reconnect: say which are no longer allowed.
  std::size_t outside = 0;
  for (const auto& [id, e] : sessions_) {
    const bool allowed = options_.admission.allow.allows_client_id(e->client_id) &&
                         (!e->address || options_.admission.allow.allows_peer(e->address->peer));
    if (allowed) continue;
    ++outside;
    spdlog::warn("admission: session {} is no longer allowed; it is refused when it reconnects",
                 describe(*e));
  }
  if (outside > 0)
    spdlog::warn("admission: {} connected sessions no longer allowed (kept until they reconnect)",
                 outside);
}

void Runtime::set_buffer_limits(std::size_t per_client, std::size_t per_client_bytes,
                                std::size_t total, std::size_t total_bytes) {
  options_.session.max_buffered = per_client;
  options_.session.max_buffered_bytes = per_client_bytes;
  options_.session.budget->set_limits(total, total_bytes);
}

void Runtime::handle_qos_minus_one(const SensorAddress& from, const mqttsn::Publish& p) {
  std::string topic;
  switch (p.flags.topic_id_type) {
    case mqttsn::TopicIdType::Predefined:
      if (options_.session.predefined) {
        if (auto it = options_.session.predefined->find(p.topic_id);
            it != options_.session.predefined->end())
          topic = it->second;
      }
      break;
    case mqttsn::TopicIdType::Short:
      topic = mqttsn::short_topic_name(p.topic_id);
      break;
    case mqttsn::TopicIdType::Normal:
      break;
  }
  if (topic.empty() || !gateway_client_ || !broker_up_) {
    ++counters_.qos_m1_dropped;
    util::log_limited("qos -1 dropped", spdlog::level::debug,
                      "QoS -1 PUBLISH from {} dropped (topic id {} {}, broker {})",
                      address_text(from), p.topic_id, mqttsn::to_string(p.flags.topic_id_type),
                      broker_up_ ? "up" : "down");
    return;
  }
  ++counters_.qos_m1_forwarded;
  gateway_client_->publish(0, topic, p.data, 0, p.flags.retain);
}

void Runtime::bind(Entry& e, const SensorAddress& to) {
  unbind(e);
  if (auto it = by_address_.find(to); it != by_address_.end() && it->second != e.id) {
    if (Entry* other = find(it->second)) {
      util::log_limited("session takeover", spdlog::level::info,
                        "session {}: its address now belongs to ClientId {}", describe(*other),
                        mqttsn::printable(e.client_id));
      other->address.reset();
    }
  }
  by_address_[to] = e.id;
  e.address = to;
}

void Runtime::unbind(Entry& e) {
  if (!e.address) return;
  if (auto it = by_address_.find(*e.address); it != by_address_.end() && it->second == e.id)
    by_address_.erase(it);
  e.address.reset();
}

Runtime::Entry* Runtime::find(std::uint64_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

std::string Runtime::describe(const Entry& e) const {
  return "ClientId=" + mqttsn::printable(e.client_id) + " " +
         (e.address ? address_text(*e.address) : "(no address)");
}

// ---------------------------------------------------------------- actions out

void Runtime::send(const SensorAddress& to, const mqttsn::Message& msg) {
  transport::Transport* t = transports_[static_cast<std::size_t>(to.peer.kind)];
  if (t == nullptr) return;
  mqttsn::Bytes bytes = mqttsn::encode(msg);
  if (bytes.empty()) {
    ++counters_.encode_errors;
    spdlog::error("cannot encode {} for {}", mqttsn::to_string(msg), address_text(to));
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

void Runtime::carry_out(Entry& e, Actions actions, TimePoint now) {
  for (auto& action : actions) {
    bool ended = false;
    std::visit(
        Overloaded{
            [&](act::SendToClient& a) {
              if (e.address) send(*e.address, a.msg);
            },
            [&](act::ConnectUpstream& a) {
              if (!aggregator_ && refuse_without_credentials(e, a.client_id)) return;
              if (!aggregator_) connect_started(e.id);
              if (e.upstream) {
                e.upstream->restart(a.clean_session, a.keep_alive_s, a.will);
                return;
              }
              std::string error;
              e.upstream = open_upstream(e, a, error);
              if (!e.upstream) {
                spdlog::warn("session {}: upstream client refused: {}", describe(e), error);
                mailbox_.post(MailboxEvent{e.id, UpstreamEvent{ev::UpstreamConnectFailed{error}}});
                return;
              }
              e.upstream->connect(a.clean_session, a.keep_alive_s, a.will);
            },
            [&](act::ReconnectUpstream& a) {
              if (!e.upstream) return;
              if (!aggregator_) connect_started(e.id);
              e.upstream->reconnect(a.will);
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
              connect_finished(e.id);
              if (e.upstream) retire(e.id, std::move(e.upstream));
            },
            [&](act::EndSession& a) {
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
  note_changed(e);
  reschedule(e);
}

bool Runtime::refuse_without_credentials(const Entry& e, const std::string& client_id) {
  const auto c = sensor_credentials(options_.upstream.security, client_id);
  if (c.ok) return false;
  // Nothing reaches the broker: the session answers CONNACK 0x03 and logs the reason (limited).
  ++counters_.refused_credentials;
  mailbox_.post(MailboxEvent{e.id, UpstreamEvent{ev::UpstreamConnectFailed{c.reason, true}}});
  return true;
}

std::unique_ptr<Upstream> Runtime::open_upstream(const Entry& e, const act::ConnectUpstream& a,
                                                 std::string& error) {
  if (aggregator_) return aggregator_->open(e.id, a.client_id);
  return UpstreamClient::create(options_.upstream, a.client_id, e.id, mailbox_, error);
}

void Runtime::publish_will_via_gateway(const Entry& e, const act::PublishUpstream& will) {
  if (!gateway_client_ || !broker_up_) {
    spdlog::warn("session {}: will on '{}' not published: broker unreachable", describe(e),
                 mqttsn::printable(will.topic));
    return;
  }
  spdlog::info("session {}: its upstream is down: will on '{}' published by the gateway client",
               describe(e), mqttsn::printable(will.topic));
  gateway_client_->publish(0, will.topic, will.payload, will.qos, will.retain);
}

void Runtime::end_session(Entry& e, bool lost) {
  ++counters_.sessions_ended;
  note_changed(e.client_id);  // parked (rewritten) or gone (deleted)
  util::log_limited("session ended", spdlog::level::info, "session {}: ended ({})", describe(e),
                    lost ? "lost" : "disconnected");
  unbind(e);
  if (auto it = by_client_id_.find(e.client_id); it != by_client_id_.end() && it->second == e.id)
    by_client_id_.erase(it);
  connect_finished(e.id);
  // A lost session has published its will itself (Session), so this is a clean disconnect too.
  // A parked one keeps no upstream client either: its upstream session was CleanSession=false,
  // so the broker keeps its subscriptions until it resumes and connects again.
  if (e.upstream) retire(e.id, std::move(e.upstream));
  auto it = sessions_.find(e.id);
  if (!lost && !e.session.clean_session() && it != sessions_.end() && !stopping_) {
    // CleanSession=false: its topic ids stay valid for its next CONNECT (§6.3), so keep it.
    e.scheduled.reset();
    std::unique_ptr<Entry> entry = std::move(it->second);
    sessions_.erase(it);
    park(std::move(entry), Clock::now());
    return;
  }
  sessions_.erase(e.id);
}

// ---------------------------------------------------------------- parked sessions

void Runtime::park(std::unique_ptr<Entry> entry, TimePoint now) {
  note_changed(entry->client_id);
  if (options_.parked_session_expiry.count() <= 0 || options_.max_parked_sessions == 0) return;
  unpark(entry->client_id);  // not expected: a parked ClientId is unparked by its CONNECT
  // The cap bounds memory whatever the expiry: the oldest parked session makes room.
  while (parked_.size() >= options_.max_parked_sessions && !parked_order_.empty()) {
    ++counters_.parked_expired;
    note_changed(parked_order_.begin()->second);
    parked_.erase(parked_order_.begin()->second);
    parked_order_.erase(parked_order_.begin());
  }
  entry->parked_at = now;
  parked_order_.emplace(std::make_pair(now, entry->id), entry->client_id);
  std::string client_id = entry->client_id;
  parked_.emplace(std::move(client_id), std::move(entry));
  arm_parked_timer();
}

std::unique_ptr<Runtime::Entry> Runtime::unpark(const std::string& client_id) {
  auto it = parked_.find(client_id);
  if (it == parked_.end()) return nullptr;
  std::unique_ptr<Entry> entry = std::move(it->second);
  parked_.erase(it);
  parked_order_.erase(std::make_pair(entry->parked_at, entry->id));
  return entry;
}

void Runtime::expire_parked() {
  const auto now = Clock::now();
  std::size_t expired = 0;
  while (!parked_order_.empty() &&
         now - parked_order_.begin()->first.first >= options_.parked_session_expiry) {
    note_changed(parked_order_.begin()->second);
    parked_.erase(parked_order_.begin()->second);
    parked_order_.erase(parked_order_.begin());
    ++expired;
  }
  counters_.parked_expired += expired;
  if (expired > 0) spdlog::debug("{} parked sessions expired, {} kept", expired, parked_.size());
  arm_parked_timer();
}

void Runtime::arm_parked_timer() {
  if (stopping_ || parked_order_.empty()) {
    uv_timer_stop(&parked_timer_);
    return;
  }
  const TimePoint when = parked_order_.begin()->first.first + options_.parked_session_expiry;
  uv_timer_start(
      &parked_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->expire_parked(); },
      ms_until(when, Clock::now()) + 1, 0);
}

// ---------------------------------------------------------------- upstream connect latency

// Paho C's receive thread waits in select() on the sockets it had when it started waiting, with
// a 1 s timeout: a new client's socket is only watched after that wait ends, so its CONNECT and
// CONNACK take 1-2 s when the gateway is otherwise idle. While any upstream CONNECT is under way,
// the shared client publishes a tiny QoS 0 message to a topic it subscribes to itself; the echo
// arrives on an already watched socket and ends the wait at once.
void Runtime::connect_started(std::uint64_t session_id) {
  connecting_.insert_or_assign(session_id, Clock::now());
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&wake_timer_)) && !stopping_)
    uv_timer_start(
        &wake_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->wake_upstream(); }, 0,
        kWakePeriodMs);
}

void Runtime::connect_finished(std::uint64_t session_id) {
  connecting_.erase(session_id);
  if (connecting_.empty()) uv_timer_stop(&wake_timer_);
}

void Runtime::wake_upstream() {
  // A connect that never reports (it should not happen) stops counting after its timeout.
  const auto give_up = Clock::now() - options_.upstream.connect_timeout - std::chrono::seconds(2);
  std::erase_if(connecting_, [&](const auto& c) { return c.second < give_up; });
  if (connecting_.empty() || stopping_) {
    uv_timer_stop(&wake_timer_);
    return;
  }
  if (gateway_client_ && broker_up_)
    gateway_client_->publish(0, wake_topic_, mqttsn::Bytes{}, 0, false);
}

void Runtime::bury(std::unique_ptr<Upstream> client) {
  // Paho is still returning from the callback that posted UpstreamClosed (its token touches the
  // client after our listener returns): destroy the client a little later, never right away.
  graveyard_.emplace_back(Clock::now(), std::move(client));
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&sweep_timer_)))
    uv_timer_start(
        &sweep_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->sweep(); },
        static_cast<std::uint64_t>(kBurialDelay.count()), 0);
}

void Runtime::sweep() {
  const auto now = Clock::now();
  std::erase_if(graveyard_, [&](const auto& g) { return now - g.first >= kBurialDelay; });
  if (!graveyard_.empty())
    uv_timer_start(
        &sweep_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->sweep(); },
        static_cast<std::uint64_t>(kBurialDelay.count()), 0);
}

void Runtime::retire(std::uint64_t session_id, std::unique_ptr<Upstream> client) {
  client->disconnect(kUpstreamDisconnectTimeout);
  auto& slot = retiring_[session_id];
  if (slot) bury(std::move(slot));  // an older one still closing: let it go
  slot = std::move(client);
}

// ---------------------------------------------------------------- timers

void Runtime::reschedule(Entry& e) {
  const auto next = e.session.next_deadline();
  if (next == e.scheduled) return;
  e.scheduled = next;
  if (!next) return;
  deadlines_.push(Deadline{*next, e.id});
  // Stale heap entries are skipped when popped; rebuild if they pile up.
  if (deadlines_.size() > 4 * sessions_.size() + 1024) {
    decltype(deadlines_) fresh;
    for (auto& [id, entry] : sessions_)
      if (entry->scheduled) fresh.push(Deadline{*entry->scheduled, id});
    deadlines_ = std::move(fresh);
  }
  if (!timer_armed_for_ || *next < *timer_armed_for_) arm_timer();
}

void Runtime::arm_timer() {
  if (stopping_ || deadlines_.empty()) {
    uv_timer_stop(&session_timer_);
    timer_armed_for_.reset();
    return;
  }
  const TimePoint when = deadlines_.top().when;
  timer_armed_for_ = when;
  uv_timer_start(
      &session_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->on_timer(); },
      ms_until(when, Clock::now()), 0);
}

void Runtime::on_timer() {
  timer_armed_for_.reset();
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.top().when <= now && !stopping_) {
    const Deadline d = deadlines_.top();
    deadlines_.pop();
    Entry* e = find(d.session_id);
    if (e == nullptr || e->scheduled != d.when) continue;  // stale
    e->scheduled.reset();
    carry_out(*e, e->session.on_timer(now), now);
  }
  arm_timer();
}

// ---------------------------------------------------------------- upstream events

void Runtime::on_mailbox(MailboxEvent&& event) {
  if (event.session_id == 0) {
    on_gateway_event(std::move(event));
    return;
  }
  if (std::holds_alternative<UpstreamClosed>(event.what)) {
    if (auto it = retiring_.find(event.session_id); it != retiring_.end()) {
      bury(std::move(it->second));
      retiring_.erase(it);
      maybe_finish_stop();
      return;
    }
    if (Entry* e = find(event.session_id); e != nullptr && e->upstream) {
      if (!e->upstream->after_closed()) bury(std::move(e->upstream));
    }
    return;
  }
  Entry* e = find(event.session_id);
  if (e == nullptr || stopping_) return;  // the session ended: nobody wants it
  const auto now = Clock::now();
  auto& upstream_event = std::get<UpstreamEvent>(event.what);
  if (const auto* f = std::get_if<ev::UpstreamConnectFailed>(&upstream_event))
    util::log_limited("upstream connect failed", spdlog::level::warn,
                      "session {}: upstream connect failed: {}", describe(*e), f->reason);
  else if (const auto* l = std::get_if<ev::UpstreamLost>(&upstream_event))
    util::log_limited("upstream lost", spdlog::level::warn, "session {}: upstream lost: {}",
                      describe(*e), l->reason);
  else if (std::holds_alternative<ev::UpstreamConnected>(upstream_event))
    util::log_limited("session event", spdlog::level::debug, "session {}: upstream connected",
                      describe(*e));
  if (std::holds_alternative<ev::UpstreamConnected>(upstream_event) ||
      std::holds_alternative<ev::UpstreamConnectFailed>(upstream_event))
    connect_finished(e->id);
  carry_out(*e, e->session.on_upstream(upstream_event, now), now);
}

void Runtime::on_gateway_event(MailboxEvent&& event) {
  if (std::holds_alternative<UpstreamClosed>(event.what)) {
    if (stopping_ && gateway_client_) {
      bury(std::move(gateway_client_));
      maybe_finish_stop();
    }
    return;
  }
  if (stopping_) return;
  const auto& e = std::get<UpstreamEvent>(event.what);
  if (std::holds_alternative<ev::UpstreamConnected>(e)) {
    broker_up_ = true;
    broker_down_logged_ = false;
    spdlog::info("broker {} reachable (gateway client {})", options_.upstream.uri,
                 options_.gateway_client_id);
    // Every (re)connect: the gateway client's MQTT session is clean.
    gateway_client_->subscribe(0, wake_topic_, 0);
    advertise();
  } else if (const auto* f = std::get_if<ev::UpstreamConnectFailed>(&e)) {
    // Warn once per outage; the retries every few seconds are debug noise.
    spdlog::log(broker_up_ || !broker_down_logged_ ? spdlog::level::warn : spdlog::level::debug,
                "broker {} unreachable: {}; retrying", options_.upstream.uri, f->reason);
    broker_down_logged_ = true;
    broker_up_ = false;
    uv_timer_start(
        &gateway_retry_timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<Runtime*>(t->data);
          if (self->gateway_client_ && !self->stopping_)
            self->gateway_client_->connect(true, 60, self->options_.gateway_will);
        },
        static_cast<std::uint64_t>(kGatewayClientRetry.count()), 0);
  } else if (const auto* l = std::get_if<ev::UpstreamLost>(&e)) {
    broker_up_ = false;
    spdlog::warn("broker {} connection lost: {}", options_.upstream.uri, l->reason);
  }
  // Aggregating mode: the sensors' traffic on the shared link (tokens 0 are the runtime's own).
  if (aggregator_) aggregator_->on_link_event(e);
}

void Runtime::advertise() {
  if (!broker_up_ || stopping_) return;
  const auto seconds = std::min<std::int64_t>(options_.advertise_interval.count(), 65535);
  const mqttsn::Bytes bytes =
      mqttsn::encode(mqttsn::Advertise{options_.gw_id, static_cast<std::uint16_t>(seconds)});
  for (auto* t : transports_)
    if (t != nullptr) t->broadcast(bytes);
}

// ---------------------------------------------------------------- stop

void Runtime::stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  on_stopped_ = std::move(done);
  uv_timer_stop(&session_timer_);
  uv_timer_stop(&advertise_timer_);
  uv_timer_stop(&gateway_retry_timer_);
  uv_timer_stop(&sweep_timer_);
  uv_timer_stop(&parked_timer_);
  uv_timer_stop(&wake_timer_);
  connecting_.clear();
  if (aggregator_) aggregator_->stop();
  spdlog::info("stopping: {} sessions, disconnecting upstream", sessions_.size());
  flush_store();  // the sessions stay stored: they are restored at the next start
  uv_check_stop(&store_check_);
  std::vector<std::uint64_t> ids;
  ids.reserve(sessions_.size());
  for (auto& [id, entry] : sessions_) ids.push_back(id);
  for (auto id : ids) {
    Entry* e = find(id);
    if (e != nullptr && e->upstream) retire(id, std::move(e->upstream));
  }
  sessions_.clear();
  by_address_.clear();
  by_client_id_.clear();
  if (gateway_client_) gateway_client_->disconnect(std::chrono::milliseconds(500));
  uv_timer_start(
      &stop_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->finish_stop(); },
      static_cast<std::uint64_t>(options_.shutdown_timeout.count()), 0);
  maybe_finish_stop();
}

void Runtime::maybe_finish_stop() {
  // The last clients closed: give Paho a moment to leave its callbacks, then finish.
  if (stopping_ && retiring_.empty() && !gateway_client_)
    uv_timer_start(
        &stop_timer_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->finish_stop(); },
        static_cast<std::uint64_t>(kBurialDelay.count() / 5), 0);
}

void Runtime::finish_stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!retiring_.empty() || gateway_client_)
    spdlog::warn("stopping: {} upstream clients did not finish disconnecting in time",
                 retiring_.size() + (gateway_client_ ? 1u : 0u));
  retiring_.clear();
  gateway_client_.reset();
  graveyard_.clear();
  store_.reset();  // closes the database (checkpoints its WAL)
  mailbox_.close();
  uv_close(reinterpret_cast<uv_handle_t*>(&store_check_), [](uv_handle_t* h) {
    auto* self = static_cast<Runtime*>(h->data);
    if (--self->open_timers_ == 0 && self->on_stopped_) {
      auto done = std::move(self->on_stopped_);
      done();
    }
  });
  for (uv_timer_t* t : {&session_timer_, &advertise_timer_, &gateway_retry_timer_, &stop_timer_,
                        &sweep_timer_, &parked_timer_, &wake_timer_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
      auto* self = static_cast<Runtime*>(h->data);
      if (--self->open_timers_ == 0 && self->on_stopped_) {
        auto done = std::move(self->on_stopped_);
        done();
      }
    });
  }
}

}  // namespace gw

// ---- service hooks (R2)
namespace gw {

SessionCounts ServiceHooks::session_counts(const Runtime& r) {
  SessionCounts c;
  for (const auto& [id, e] : r.sessions_) {
    switch (e->session.state()) {
      case SessionState::Connecting:
        ++c.connecting;
        break;
      case SessionState::Active:
        ++c.active;
        break;
      case SessionState::Asleep:
        ++c.asleep;
        break;
      case SessionState::Awake:
        ++c.awake;
        break;
      case SessionState::Lost:
      case SessionState::Disconnected:
        continue;
    }
    if (e->address && e->address->peer.kind == transport::Kind::Ble)
      ++c.ble;
    else
      ++c.udp;
  }
  return c;
}

std::vector<SensorView> ServiceHooks::sensors(const Runtime& r) {
  std::vector<SensorView> out;
  out.reserve(r.sessions_.size());
  for (const auto& [id, e] : r.sessions_) {
    if (e->client_id.empty()) continue;
    out.push_back({e->client_id, e->session.state(),
                   e->address ? e->address->peer.kind : transport::Kind::Udp,
                   e->address ? address_text(*e->address) : std::string(), e->last_seen});
  }
  return out;
}

bool ServiceHooks::publish(Runtime& r, const std::string& topic, const std::string& payload,
                           bool retain) {
  if (!r.gateway_client_ || !r.broker_up_ || r.stopping_) return false;
  r.gateway_client_->publish(0, topic, Bytes(payload.begin(), payload.end()), 0, retain);
  return true;
}

}  // namespace gw
