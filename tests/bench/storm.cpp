// Connect storm: every sensor sends one CONNECT at once (or paced at 1 sensor/ms) and never
// retries; what the gateway answers, and how fast. Also the gateway's memory with all of them in.
// And the storm with spec retries (run_storm_retry): the same burst from sensors that retry as
// MQTT-SN clients do, and how long until every one is connected.
#include <algorithm>
#include <chrono>
#include <thread>

#include "broker_clients.hpp"
#include "mqttsn/codec.hpp"
#include "processes.hpp"
#include "scenarios.hpp"
#include "stats.hpp"

namespace bench {

namespace {

struct StormSpec {
  std::string mode;  // "burst" or "paced 1/ms"
  std::size_t n = 0;
  std::int64_t interval_ns = 0;  // 0: all at once
};

std::string storm(Rig& rig, const Options& opt, const StormSpec& spec, Results& results) {
  if (auto err = rig.restart_gateway(); !err.empty()) return err;
  const std::size_t n = spec.n;
  Fleet fleet(rig.gateway_address(), n,
              "st" + std::to_string(n) + (spec.interval_ns ? "p-" : "b-"));
  if (!fleet.ok()) return "storm: " + fleet.error() + " (raise the fd limit)";
  std::size_t answered = 0;
  std::size_t accepted = 0;
  std::int64_t last_answer = 0;
  auto handler = [&](std::size_t i, const mqttsn::Message& m, std::int64_t now) {
    const auto* ack = std::get_if<mqttsn::ConnAck>(&m);
    if (ack == nullptr) {
      answer_gateway(fleet, i, m);
      return;
    }
    if (fleet[i].answer_ns != 0 || fleet[i].request_ns == 0) return;
    fleet[i].answer_ns = now;
    fleet[i].answer_code = static_cast<std::uint8_t>(ack->return_code);
    ++answered;
    if (ack->return_code == mqttsn::ReturnCode::Accepted) ++accepted;
    last_answer = now;
  };
  auto connect_of = [&](std::size_t i) {
    mqttsn::Connect c;
    c.flags.clean_session = true;
    c.duration = 600;
    c.client_id = fleet[i].client_id;
    return mqttsn::Bytes(mqttsn::encode(c));
  };
  std::vector<mqttsn::Bytes> frames;  // encoded beforehand: the burst is only send() calls
  frames.reserve(n);
  for (std::size_t i = 0; i < n; ++i) frames.push_back(connect_of(i));
  const auto drops0 = udp_receive_buffer_errors();
  const auto start = now_ns();
  std::size_t next = 0;
  while (next < n) {
    const auto now = now_ns();
    if (spec.interval_ns == 0 ||
        now >= start + static_cast<std::int64_t>(next) * spec.interval_ns) {
      fleet[next].request_ns = now_ns();
      fleet.send_raw(next, frames[next]);
      ++next;
      if (spec.interval_ns == 0) continue;
    }
    fleet.poll(0, handler);
  }
  const auto sent_end = now_ns();
  const std::int64_t quiet = (opt.quick ? 3 : 10) * 1'000'000'000LL;
  const std::int64_t limit = (opt.quick ? 15 : 60) * 1'000'000'000LL;
  for (auto now = now_ns();
       answered < n && now - std::max(last_answer, sent_end) < quiet && now - start < limit;
       now = now_ns()) {
    fleet.poll(10, handler);
  }
  const auto drops = udp_receive_buffer_errors() - drops0;
  std::vector<std::int64_t> latencies;
  for (std::size_t i = 0; i < n; ++i) {
    if (fleet[i].answer_ns != 0) latencies.push_back(fleet[i].answer_ns - fleet[i].request_ns);
  }
  const auto lat = percentiles(std::move(latencies));
  results.storm.add({text(spec.mode), num(std::uint64_t{n}),
                     num(static_cast<double>(sent_end - start) / 1e6, 1),
                     num(std::uint64_t{accepted}), num(std::uint64_t{answered - accepted}),
                     num(std::uint64_t{n - answered}),
                     answered ? num(static_cast<double>(last_answer - start) / 1e6, 1) : text("-"),
                     num(lat.p50_ms, 2), num(lat.p99_ms, 2), num(lat.max_ms, 2), num(drops)});
  progress("storm " + spec.mode + " n=" + std::to_string(n) + ": " + std::to_string(accepted) +
           " accepted, " + std::to_string(n - answered) + " unanswered, p50 " +
           std::to_string(lat.p50_ms) + " ms");
  auto& f = results.figures;
  if (spec.interval_ns != 0) {
    f.paced_p50_ms = lat.p50_ms;
  } else if (n >= f.storm_n) {
    f.storm_n = n;
    f.storm_accepted = accepted;
  }
  // Memory with everyone connected (the one method: record_memory).
  const auto mem = record_memory(rig, "after " + spec.mode + " storm", accepted, results);
  if (spec.interval_ns == 0 && accepted > 0 && accepted >= f.memory_n) {
    f.memory_n = accepted;
    f.per_sensor_kb = mem.per_sensor_kb;
    f.rss_mb_at_n = mem.rss_mb;
  }
  disconnect_fleet(fleet);
  return {};
}

// The ceiling for a transparent gateway: Paho clients connecting straight to mosquitto at once.
// With `idle`, one more client of the same process is connected and silent beforehand, as the
// gateway's own upstream client and its already connected sensors are.
// With `wake`, that idle client then publishes once to a topic it subscribed to: the echo wakes
// Paho's receive thread (a possible workaround for the runtime).
void direct_storm(Rig& rig, std::size_t n, bool idle, bool wake, Results& results) {
  Publishers idle_client(rig.broker_uri(), idle ? 1 : 0, "stidle-");
  idle_client.connect();
  if (wake) idle_client.client(0).subscribe("bench/wake", 0)->wait();
  Publishers clients(rig.broker_uri(), n, "stdirect" + std::to_string(n) + "-");
  const std::uint8_t byte = 0;
  const auto times = clients.connect_timed(30000, [&] {
    if (wake) idle_client.publish(0, "bench/wake", &byte, 1, 0);
  });
  std::vector<std::int64_t> ok;
  for (const auto t : times) {
    if (t > 0) ok.push_back(t);
  }
  const auto last = ok.empty() ? 0 : *std::max_element(ok.begin(), ok.end());
  const auto lat = percentiles(ok);
  results.storm.add({text(wake   ? "direct Paho burst, idle client + wake echo"
                          : idle ? "direct Paho burst, 1 idle client"
                                 : "direct Paho burst"),
                     num(std::uint64_t{n}), text("-"), num(std::uint64_t{ok.size()}),
                     num(std::uint64_t{0}), num(std::uint64_t{n - ok.size()}),
                     num(static_cast<double>(last) / 1e6, 1), num(lat.p50_ms, 2),
                     num(lat.p99_ms, 2), num(lat.max_ms, 2), text("-")});
  progress(std::string("direct Paho connect burst") +
           (wake   ? " (idle client + wake echo)"
            : idle ? " (1 idle client)"
                   : "") +
           " n=" + std::to_string(n) + ": p50 " + std::to_string(lat.p50_ms) + " ms");
}

// One sensor of the storm with spec retries.
struct Retrier {
  std::int64_t sent_ns = 0;      // its CONNECT now outstanding (0: none, waiting to resend)
  std::int64_t resend_ns = 0;    // when to send the next CONNECT
  std::int64_t accepted_ns = 0;  // its first CONNACK 0x00
  std::uint32_t connects = 0;
};

std::string storm_retry(Rig& rig, const Options& opt, std::size_t n, Table& table) {
  if (auto err = rig.restart_gateway(); !err.empty()) return err;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Fleet fleet(rig.gateway_address(), n, "sr" + std::to_string(n) + "-");
  if (!fleet.ok()) return "storm with retries: " + fleet.error() + " (raise the fd limit)";
  // §6.13 Tretry: an unanswered CONNECT is sent again after 10 s. The spec gives no wait after
  // CONNACK "rejected: congestion" (TWAIT, > 5 min, is for REGISTER, PUBLISH and SUBSCRIBE), so
  // the sensor waits Tretry then too: the connect procedure starts again on its normal timer.
  constexpr std::int64_t tretry = 10'000'000'000LL;
  const std::int64_t limit = (opt.quick ? 30 : 90) * 1'000'000'000LL;
  std::vector<Retrier> s(n);
  std::vector<mqttsn::Bytes> frames;
  frames.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    mqttsn::Connect c;
    c.flags.clean_session = true;
    c.duration = 600;
    c.client_id = fleet[i].client_id;
    frames.push_back(mqttsn::encode(c));
  }
  std::size_t accepted = 0;
  std::uint64_t congestion = 0;  // CONNACK 0x01 received
  std::uint64_t other = 0;       // other refusals
  std::uint64_t timeouts = 0;    // CONNECTs unanswered after Tretry
  std::int64_t last_accept = 0;
  auto handler = [&](std::size_t i, const mqttsn::Message& m, std::int64_t now) {
    const auto* ack = std::get_if<mqttsn::ConnAck>(&m);
    if (ack == nullptr) {
      answer_gateway(fleet, i, m);
      return;
    }
    Retrier& r = s[i];
    if (r.accepted_ns != 0 || r.sent_ns == 0) return;  // late answer to an earlier CONNECT
    r.sent_ns = 0;
    if (ack->return_code == mqttsn::ReturnCode::Accepted) {
      r.accepted_ns = now;
      last_accept = now;
      ++accepted;
      return;
    }
    ++(ack->return_code == mqttsn::ReturnCode::RejectedCongestion ? congestion : other);
    r.resend_ns = now + tretry;
  };
  const auto drops0 = udp_receive_buffer_errors();
  const auto start = now_ns();
  for (auto now = start; accepted < n && now - start < limit; now = now_ns()) {
    for (std::size_t i = 0; i < n; ++i) {
      Retrier& r = s[i];
      if (r.accepted_ns != 0) continue;
      if (r.sent_ns != 0 && now - r.sent_ns >= tretry) {
        ++timeouts;
        r.sent_ns = 0;  // no answer: send again now
        r.resend_ns = now;
      }
      if (r.sent_ns == 0 && now >= r.resend_ns) {
        r.sent_ns = now_ns();
        ++r.connects;
        fleet.send_raw(i, frames[i]);
      }
    }
    fleet.poll(5, handler);
  }
  const auto drops = udp_receive_buffer_errors() - drops0;
  std::vector<std::int64_t> times;
  std::uint64_t connects = 0;
  for (const auto& r : s) {
    connects += r.connects;
    if (r.accepted_ns != 0) times.push_back(r.accepted_ns - start);
  }
  const auto t = percentiles(std::move(times));
  table.add({num(std::uint64_t{n}), num(std::uint64_t{accepted}), num(std::uint64_t{n - accepted}),
             accepted == n ? num(static_cast<double>(last_accept - start) / 1e9, 1) : text("-"),
             num(t.p50_ms / 1000, 2), num(t.p99_ms / 1000, 2), num(connects), num(congestion),
             num(other), num(timeouts), num(drops)});
  progress("storm with spec retries n=" + std::to_string(n) + ": " + std::to_string(accepted) +
           " connected" +
           (accepted == n
                ? " after " + std::to_string(static_cast<double>(last_accept - start) / 1e9) + " s"
                : "") +
           ", " + std::to_string(connects) + " CONNECTs, " + std::to_string(congestion) +
           " CONNACK 0x01, " + std::to_string(timeouts) + " unanswered");
  disconnect_fleet(fleet);
  return {};
}

}  // namespace

Table storm_retry_table() {
  return {"storm_retry",
          "Connect storm with spec retries: all CONNECTs at once; resent after Tretry (10 s) when "
          "unanswered, and 10 s after CONNACK 0x01",
          {"sensors", "connected", "not connected", "all connected s", "p50 s", "p99 s",
           "CONNECTs sent", "CONNACK 0x01", "other refusals", "unanswered", "kernel UDP drops"},
          {}};
}

std::string run_storm_retry(Rig& rig, const Options& opt, Table& table) {
  const std::size_t n = opt.quick ? 200 : 10000;
  const auto first = table.rows.size();
  auto err = storm_retry(rig, opt, n, table);
  rig.stop_gateway();
  if (rig.gateway_count() > 1) {  // --compare: say which gateway each row is
    for (auto i = first; i < table.rows.size(); ++i) {
      auto& cell = table.rows[i].front();
      cell.text = rig.gateway_label() + ": " + cell.text;
    }
  }
  return err;
}

std::string run_storm(Rig& rig, const Options& opt, Results& results) {
  const std::vector<std::size_t> sizes =
      opt.quick ? std::vector<std::size_t>{200} : std::vector<std::size_t>{1000, 10000};
  for (const std::size_t n : sizes) {
    if (auto err = storm(rig, opt, StormSpec{"burst", n, 0}, results); !err.empty()) return err;
  }
  const std::size_t direct_n = opt.quick ? 200 : 1000;
  direct_storm(rig, direct_n, false, false, results);
  direct_storm(rig, direct_n, true, false, results);
  direct_storm(rig, direct_n, true, true, results);
  const std::size_t paced = opt.quick ? 200 : 2000;
  if (auto err = storm(rig, opt, StormSpec{"paced 1/ms", paced, 1'000'000}, results);
      !err.empty()) {
    return err;
  }
  rig.stop_gateway();
  return {};
}

}  // namespace bench
