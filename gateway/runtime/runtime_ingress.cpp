// Runtime, datagrams in: rate limit, decode (and unwrap ENCAPSULATED), admission, then the
// session the datagram belongs to (by address; a CONNECT or a waking PINGREQ by ClientId), or the
// connectionless paths (SEARCHGW, QoS -1 PUBLISH).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "gateway/core/client_id.hpp"
#include "gateway/core/unknown_sender.hpp"
#include "gateway/runtime/peer_identity.hpp"
#include "gateway/runtime/runtime.hpp"
#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"
#include "mqttsn/topic.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

void Runtime::on_datagram(const transport::PeerAddress& from, std::span<const std::uint8_t> bytes,
                          std::string_view identity) {
  if (stopping_) return;
  identity_ = identity;  // read while this datagram is handled; it does not outlive the call
  ++counters_.datagrams;
  const auto now = now_();
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

void Runtime::handle(const SensorAddress& from, mqttsn::Message& msg, TimePoint now) {
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
    if ((e = table_.find_by_client_id(ping->client_id)) != nullptr) {
      if (e->address != from && !identity_refusal(from.peer, identity_, ping->client_id,
                                                  options_.identity_must_match_client_id,
                                                  e->address ? &e->address->peer : nullptr)
                                     .empty())
        e = nullptr;  // answered as an unknown sender
      if (e != nullptr && e->address != from) {
        util::log_limited("session takeover", spdlog::level::info,
                          "session {}: wakes up from new address {}", describe(*e),
                          address_text(from));
        bind(*e, from);
      }
    }
  } else {
    e = table_.find_by_address(from);
  }
  if (e == nullptr) {
    ++counters_.unknown_sender;
    // No reflection: answers are never answered, and all answers together are rate-limited.
    const double pps = options_.unknown_sender_replies_pps;
    if (!unknown_replies_) unknown_replies_.emplace(pps, now);
    const bool answer =
        answer_unknown_sender(type_of(msg)) && pps > 0 && unknown_replies_->take(now, pps, pps);
    if (!answer) ++counters_.unknown_not_answered;
    util::log_limited("unknown sender", spdlog::level::debug, "{} from unknown sender {}: {}",
                      to_string(type_of(msg)), address_text(from),
                      answer ? "answering DISCONNECT" : "not answered");
    if (answer) send(from, Disconnect{});
    return;
  }
  e->last_seen = now;
  // The per-packet path allocates no action list: one vector is reused (taken out while in use,
  // so a nested use could not clobber it).
  Actions actions = std::move(packet_actions_);
  actions.clear();
  e->session.on_packet(std::move(msg), now, actions);
  carry_out(*e, std::move(actions), now);
  actions.clear();
  packet_actions_ = std::move(actions);
}

void Runtime::handle_connect(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now) {
  const auto& c = std::get<mqttsn::Connect>(msg);
  // Sensor data that becomes an MQTT ClientId and a status topic level: checked first.
  if (const char* why = client_id_problem(c.client_id, options_.max_client_id_length)) {
    ++counters_.refused_client_id_invalid;
    refuse(from, c.client_id, mqttsn::ReturnCode::RejectedNotSupported, why);
    return;
  }
  if (!options_.admission.allow.allows_client_id(c.client_id)) {
    ++counters_.refused_client_id;
    refuse(from, c.client_id, mqttsn::ReturnCode::RejectedNotSupported, "ClientId not allowed");
    return;
  }
  Entry* e = table_.find_by_client_id(c.client_id);
  if (auto why = identity_refusal(from.peer, identity_, c.client_id,
                                  options_.identity_must_match_client_id,
                                  e != nullptr && e->address ? &e->address->peer : nullptr);
      !why.empty()) {
    ++counters_.refused_identity;
    refuse(from, c.client_id, mqttsn::ReturnCode::RejectedNotSupported, why);
    return;
  }
  // The cap is on sessions: a known ClientId reconnecting or taking over adds none.
  const auto cap = options_.admission.max_sessions;
  if (e == nullptr && cap != 0 && table_.size() >= cap) {
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
  auto entry = std::make_unique<Entry>(table_.new_id(), options_.session, now);
  entry->client_id = client_id;
  Entry& e = table_.add(std::move(entry));
  bind(e, from);
  ++counters_.sessions_created;
  util::log_limited("session new", spdlog::level::info, "session {}: new", describe(e));
  return e;
}

bool Runtime::try_resume(const SensorAddress& from, const mqttsn::Message& msg, TimePoint now) {
  const auto& c = std::get<mqttsn::Connect>(msg);
  std::unique_ptr<Entry> entry = table_.unpark(c.client_id);
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
  entry->id = table_.new_id();  // events for the old upstream client must not reach it
  entry->scheduled.reset();
  Entry& e = table_.add(std::move(entry));
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
  for (const auto& [id, e] : table_.live()) {
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
        if (const std::string* name = options_.session.predefined->name_of(p.topic_id))
          topic = *name;
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
  if (Entry* other = table_.bind(e, to))
    util::log_limited("session takeover", spdlog::level::info,
                      "session ClientId={} {}: its address now belongs to ClientId {}",
                      mqttsn::printable(other->client_id), address_text(to),
                      mqttsn::printable(e.client_id));
}

}  // namespace gw
