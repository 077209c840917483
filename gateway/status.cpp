#include "gateway/status.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

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

}  // namespace

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
  const auto up =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
  return std::string("{\"online\": true, \"sensors\": {\"active\": ") + num(n.active) +
         ", \"asleep\": " + num(n.asleep) + ", \"awake\": " + num(n.awake) +
         ", \"connecting\": " + num(n.connecting) + "}, \"by_transport\": {\"udp\": " + num(n.udp) +
         ", \"ble\": " + num(n.ble) + "}, \"messages\": {\"in\": " + num(c.datagrams) +
         ", \"out\": " + num(c.datagrams_out) +
         "}, \"drops\": {\"qos_m1\": " + num(c.qos_m1_dropped) +
         ", \"unknown_sender\": " + num(c.unknown_sender) +
         ", \"encode_error\": " + num(c.encode_errors) + "}, \"malformed\": " + num(c.malformed) +
         ", \"sessions_created\": " + num(c.sessions_created) +
         ", \"uptime_s\": " + num(static_cast<std::uint64_t>(up.count())) + "}";
}

void StatusPublisher::tick() {
  if (!ServiceHooks::publish(runtime_, prefix_ + "/status", status_json(), true)) return;
  std::set<std::string> seen;
  for (const SensorView& s : ServiceHooks::sensors(runtime_)) {
    seen.insert(s.client_id);
    ServiceHooks::publish(runtime_, prefix_ + "/sensors/" + s.client_id,
                          std::string("{\"state\": \"") + to_string(s.state) +
                              "\", \"transport\": \"" +
                              (s.transport == transport::Kind::Ble ? "ble" : "udp") +
                              "\", \"address\": " + quoted(s.address) + "}",
                          true);
  }
  // Sessions that ended: an empty retained message removes their topic.
  for (const auto& id : published_)
    if (!seen.contains(id)) ServiceHooks::publish(runtime_, prefix_ + "/sensors/" + id, "", true);
  published_ = std::move(seen);
}

void StatusPublisher::stop() {
  if (closed_) return;
  closed_ = true;
  for (const auto& id : published_)
    ServiceHooks::publish(runtime_, prefix_ + "/sensors/" + id, "", true);
  ServiceHooks::publish(runtime_, prefix_ + "/status", "{\"online\": false}", true);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

}  // namespace gw
