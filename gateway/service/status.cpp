#include "gateway/service/status.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "gateway/core/client_id.hpp"

namespace gw {
namespace {

// JSON string body: ClientIds and addresses are printable in practice, but escape anyway.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string num(std::uint64_t n) {
  return std::to_string(n);
}

// "last_seen": wall-clock time of the steady `when` (ISO-8601 UTC, seconds), and seconds ago.
std::string last_seen_fields(TimePoint when, TimePoint steady_now,
                             std::chrono::system_clock::time_point wall_now) {
  const auto ago = std::max(steady_now - when, TimePoint::duration::zero());
  const std::time_t t = std::chrono::system_clock::to_time_t(
      wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(ago));
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(", \"last_seen\": \"") + buf + "\", \"last_seen_s\": " +
         num(static_cast<std::uint64_t>(
             std::chrono::duration_cast<std::chrono::seconds>(ago).count()));
}

// ", "buffer_client_messages": n, ..." : buffered broker messages dropped, by cap.
std::string buffer_drops(const BufferBudget& b) {
  std::string out;
  for (auto r : {DropReason::ClientMessages, DropReason::ClientBytes, DropReason::TotalMessages,
                 DropReason::TotalBytes})
    out += std::string(", \"buffer_") + to_string(r) + "\": " + num(b.drops(r));
  return out;
}

// ", "qos0_no_upstream": n, ...": the drops and refusals the per-sensor caps and the upstream
// side count (README "Status topics").
std::string sensor_drops(const RuntimeCounters& c, const LimitCounters& l) {
  return ", \"qos0_no_upstream\": " + num(c.qos0_no_upstream) +
         ", \"upstream_refused\": " + num(c.upstream_refused) +
         ", \"link_down\": " + num(c.link_down) +
         ", \"upstream_queue_full\": " + num(c.upstream_queue_full) +
         ", \"parked_not_kept\": " + num(c.parked_not_kept) +
         ", \"downlink_oversized\": " + num(l.downlink_oversized) +
         ", \"uplink_congestion\": " + num(l.uplink_congestion) +
         ", \"unknown_not_answered\": " + num(c.unknown_not_answered) +
         ", \"cap_topics\": " + num(l.topics) + ", \"cap_topic_length\": " + num(l.topic_length) +
         ", \"cap_subscriptions\": " + num(l.subscriptions);
}

const char* transport_name(transport::Kind k) {
  switch (k) {
    case transport::Kind::Ble:
      return "ble";
    case transport::Kind::Dtls:
      return "dtls";
    case transport::Kind::Udp:
      break;
  }
  return "udp";
}

}  // namespace

std::string sensor_topic(const std::string& prefix, const std::string& client_id) {
  return prefix + "/sensors/" + escape_topic_level(client_id);
}

StatusPublisher::StatusPublisher(uv_loop_t* loop, Runtime& runtime, std::string prefix,
                                 std::chrono::seconds interval)
    : runtime_(runtime),
      prefix_(std::move(prefix)),
      interval_(interval),
      started_(std::chrono::steady_clock::now()) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

void StatusPublisher::start() {
  // First publish soon (the broker link may still be coming up), then every interval.
  const auto ms = static_cast<std::uint64_t>(std::chrono::milliseconds(interval_).count());
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<StatusPublisher*>(t->data)->tick(); },
      std::min<std::uint64_t>(ms, 1000), ms);
}

std::string StatusPublisher::status_json() const {
  const SessionCounts n = ServiceHooks::session_counts(runtime_);
  const RuntimeCounters& c = runtime_.counters();
  const BufferBudget& b = runtime_.buffer_budget();
  const auto up =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  std::string ble;
  if (ble_summary_) ble = ", \"ble\": " + ble_summary_();
  return std::string("{\"online\": true, \"sensors\": {\"active\": ") + num(n.active) +
         ", \"asleep\": " + num(n.asleep) + ", \"awake\": " + num(n.awake) +
         ", \"connecting\": " + num(n.connecting) + "}, \"by_transport\": {\"udp\": " + num(n.udp) +
         ", \"ble\": " + num(n.ble) + ", \"dtls\": " + num(n.dtls) +
         "}, \"messages\": {\"in\": " + num(c.datagrams) + ", \"out\": " + num(c.datagrams_out) +
         "}, \"drops\": {\"qos_m1\": " + num(c.qos_m1_dropped) +
         ", \"unknown_sender\": " + num(c.unknown_sender) +
         ", \"encode_error\": " + num(c.encode_errors) +
         ", \"rate_limited\": " + num(c.rate_limited) +
         ", \"network_not_allowed\": " + num(c.dropped_network) + buffer_drops(b) +
         sensor_drops(c, runtime_.limit_counters()) +
         "}, \"refused\": {\"client_id\": " + num(c.refused_client_id) +
         ", \"network\": " + num(c.refused_network) +
         ", \"max_sessions\": " + num(c.refused_max_sessions) +
         ", \"credentials\": " + num(c.refused_credentials) +
         ", \"identity\": " + num(c.refused_identity) +
         ", \"client_id_invalid\": " + num(c.refused_client_id_invalid) +
         ", \"connect_queue_timeout\": " + num(c.connack_queue_timeout) +
         ", \"connect_timeout\": " + num(c.connack_connect_timeout) +
         ", \"upstream_failed\": " + num(c.connack_upstream_failed) +
         "}, \"buffered\": {\"messages\": " + num(b.messages()) + ", \"bytes\": " + num(b.bytes()) +
         "}, \"malformed\": " + num(c.malformed) +
         ", \"sessions_created\": " + num(c.sessions_created) +
         ", \"keep_alive_capped\": " + num(runtime_.limit_counters().keep_alive) +
         ", \"store_errors\": " + num(c.store_errors) +
         ", \"uptime_s\": " + num(static_cast<std::uint64_t>(up.count())) + ble +
         (extra_ ? extra_() : std::string()) + "}";
}

void StatusPublisher::tick() {
  if (!ServiceHooks::publish(runtime_, prefix_ + "/status", status_json(), true)) return;
  std::set<std::string> seen;
  const auto links = link_info_ ? link_info_() : std::map<std::string, LinkInfo>{};
  const auto steady_now = Clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  for (const SensorView& s : ServiceHooks::sensors(runtime_)) {
    seen.insert(s.client_id);
    std::string radio;
    if (const auto it = links.find(s.address); it != links.end())
      radio = ", \"rssi\": " + std::to_string(it->second.rssi) +
              ", \"mtu\": " + std::to_string(it->second.mtu) +
              ", \"adapter\": " + quoted(it->second.adapter);
    ServiceHooks::publish(runtime_, sensor_topic(prefix_, s.client_id),
                          std::string("{\"state\": \"") + to_string(s.state) +
                              "\", \"transport\": \"" + transport_name(s.transport) +
                              "\", \"address\": " + quoted(s.address) +
                              last_seen_fields(s.last_seen, steady_now, wall_now) + radio + "}",
                          true);
  }
  // Sessions that ended: an empty retained message removes their topic.
  for (const auto& id : published_)
    if (!seen.contains(id)) ServiceHooks::publish(runtime_, sensor_topic(prefix_, id), "", true);
  published_ = std::move(seen);
}

void StatusPublisher::stop() {
  if (closed_) return;
  closed_ = true;
  for (const auto& id : published_)
    ServiceHooks::publish(runtime_, sensor_topic(prefix_, id), "", true);
  ServiceHooks::publish(runtime_, prefix_ + "/status", "{\"online\": false}", true);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

}  // namespace gw
