// Uplink: sensors publish through the gateway; the same load goes straight to the broker with
// Paho clients as the ceiling. A subscriber at the broker counts, dedups and times both.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <functional>

#include "broker_clients.hpp"
#include "processes.hpp"
#include "raw_mqtt.hpp"
#include "scenarios.hpp"
#include "step.hpp"

namespace bench {

std::uint32_t new_phase() {
  static std::uint32_t phase = 0;
  return ++phase;
}

namespace {

constexpr std::uint32_t kWindow = 64;  // unacknowledged QoS 1 PUBLISHes per sensor

std::vector<double> ladder(const Options& o) {
  if (o.quick) return {2000, 8000};
  return {2000, 5000, 10000, 15000, 20000, 30000, 40000, 60000, 80000};
}

struct Outcome {
  double offered_rate = 0;
  double delivered_rate = 0;
  double loss_pct = 0;
  bool lossless = false;
  bool saturated = false;
};

// One row of the uplink table from a finished step.
Outcome record(Table& table, const std::string& path, std::size_t n, int qos, double rate,
               const StepTimes& t, Collector::Result r, std::uint64_t acked, std::uint64_t rejected,
               const ProcStats& gw0, const ProcStats& gw1, const ProcStats& br0,
               const ProcStats& br1, double seconds, std::uint64_t udp_drops,
               std::int64_t gw_drops) {
  Outcome o;
  o.offered_rate = rate;
  const double wall = static_cast<double>(t.end_ns - t.start_ns) / 1e9;
  const double span = std::max(seconds, static_cast<double>(r.last_ns - t.start_ns) / 1e9);
  o.delivered_rate = r.received == 0 ? 0 : static_cast<double>(r.received) / span;
  o.loss_pct = t.sent == 0 ? 0
                           : 100.0 * static_cast<double>(t.sent - std::min(t.sent, r.received)) /
                                 static_cast<double>(t.sent);
  o.lossless = r.received >= t.sent && t.sent == t.offered && o.delivered_rate >= 0.95 * rate;
  o.saturated = o.delivered_rate < 0.9 * rate || o.loss_pct > 1.0 || t.sent < t.offered * 9 / 10;
  const auto lat = percentiles(std::move(r.latencies_ns));
  const bool via_gateway = path == "gateway";
  const double gw_cpu = gw1.cpu_s - gw0.cpu_s;
  // Every message lost on the way must be counted somewhere: by the gateway (its drops by reason)
  // or by the kernel (receive buffer overflows; machine-wide, so it may count others' too).
  const std::uint64_t lost = t.sent - std::min(t.sent, r.received);
  const std::uint64_t counted =
      udp_drops + static_cast<std::uint64_t>(std::max<std::int64_t>(gw_drops, 0));
  const bool accounted = via_gateway && gw_drops >= 0;
  table.add({text(path), num(std::uint64_t{n}), num(std::uint64_t(qos)), num(rate), num(t.sent),
             num(r.received), num(o.delivered_rate), num(o.loss_pct, 2), num(lat.p50_ms, 2),
             num(lat.p99_ms, 2), qos == 1 ? num(acked) : text("-"), num(rejected),
             via_gateway ? num(100.0 * gw_cpu / wall, 0) : text("-"),
             num(100.0 * (br1.cpu_s - br0.cpu_s) / wall, 0),
             via_gateway && r.received > 0 ? num(gw_cpu / static_cast<double>(r.received) * 1e5, 2)
                                           : text("-"),
             via_gateway ? num(udp_drops) : text("-"),
             accounted ? num(static_cast<std::uint64_t>(gw_drops)) : text("-"),
             accounted ? num(lost - std::min(lost, counted)) : text("-")});
  return o;
}

struct Best {
  double peak = 0;      // highest delivered msg/s
  double lossless = 0;  // highest delivered msg/s of a step with no loss that kept up
  void add(const Outcome& o) {
    peak = std::max(peak, o.delivered_rate);
    if (o.lossless) lossless = std::max(lossless, o.delivered_rate);
  }
};

Best gateway_ladder(Rig& rig, const Options& opt, Collector& collector, Fleet& fleet, int qos,
                    Table& table) {
  Best best;
  const std::size_t n = fleet.size();
  mqttsn::Publish pub;
  pub.flags.qos = qos == 1 ? mqttsn::QoS::AtLeastOnce : mqttsn::QoS::AtMostOnce;
  pub.flags.topic_id_type = mqttsn::TopicIdType::Normal;
  pub.data.assign(kPayloadSize, 0);
  for (const double rate : ladder(opt)) {
    const auto phase = new_phase();
    const auto total = static_cast<std::size_t>(rate * opt.step_seconds());
    collector.begin(phase, total + 1);
    for (std::size_t i = 0; i < n; ++i) fleet[i].inflight = 0;
    std::uint64_t acked = 0;
    std::uint64_t rejected = 0;
    std::size_t cursor = 0;
    auto handler = [&](std::size_t i, const mqttsn::Message& m, std::int64_t) {
      if (const auto* ack = std::get_if<mqttsn::PubAck>(&m)) {
        if (fleet[i].inflight > 0) --fleet[i].inflight;
        ++acked;
        if (ack->return_code != mqttsn::ReturnCode::Accepted) ++rejected;
      } else {
        answer_gateway(fleet, i, m);
      }
    };
    const auto gw0 = read_proc(rig.gateway_pid());
    const auto br0 = read_proc(rig.broker_pid());
    const auto drops0 = udp_receive_buffer_errors();
    const auto gw_drops0 = rig.gateway_drops();
    const auto t = run_step(
        StepSpec{rate, opt.step_seconds(), opt.quick ? 1000 : 2000, 500},
        [&](std::uint32_t seq) {
          const std::size_t i = cursor++ % n;
          Sensor& s = fleet[i];
          if (qos == 1 && s.inflight >= kWindow) return false;
          pub.topic_id = s.topic_id;
          pub.msg_id = s.next_msg_id++;
          if (s.next_msg_id == 0) s.next_msg_id = 1;
          write_stamp(pub.data, Stamp{phase, seq, static_cast<std::uint32_t>(i), now_ns()});
          if (!fleet.send(i, pub)) return false;
          if (qos == 1) ++s.inflight;
          return true;
        },
        [&](int wait_ms) { fleet.poll(wait_ms, handler); },
        [&] { return collector.received() + acked; },
        [&](std::uint64_t sent) {
          return collector.received() >= sent && (qos == 0 || acked >= sent);
        });
    const auto gw1 = read_proc(rig.gateway_pid());
    const auto br1 = read_proc(rig.broker_pid());
    const auto gw_drops1 = rig.gateway_drops();
    const auto o =
        record(table, "gateway", n, qos, rate, t, collector.finish(), acked, rejected, gw0, gw1,
               br0, br1, opt.step_seconds(), udp_receive_buffer_errors() - drops0,
               gw_drops0 >= 0 && gw_drops1 >= gw_drops0 ? gw_drops1 - gw_drops0 : -1);
    best.add(o);
    progress("uplink gateway n=" + std::to_string(n) + " qos=" + std::to_string(qos) +
             " rate=" + std::to_string(static_cast<int>(rate)) + " -> " +
             std::to_string(static_cast<int>(o.delivered_rate)) + " msg/s, loss " +
             std::to_string(o.loss_pct) + " %");
    if (o.saturated) break;
  }
  return best;
}

// The same load straight to the broker; `publish`, `service` and `acked` say through which client.
Best direct_ladder(Rig& rig, const Options& opt, Collector& collector, const std::string& path,
                   std::size_t n, int qos, Table& table,
                   const std::function<bool(std::size_t, const std::string&, const std::uint8_t*,
                                            std::size_t)>& publish,
                   const std::function<void(int)>& service,
                   const std::function<std::uint64_t()>& acked) {
  Best best;
  std::vector<std::string> topics;
  for (std::size_t i = 0; i < n; ++i) topics.push_back("bench/u/" + std::to_string(i));
  std::vector<std::uint8_t> payload(kPayloadSize, 0);
  for (const double rate : ladder(opt)) {
    const auto phase = new_phase();
    const auto total = static_cast<std::size_t>(rate * opt.step_seconds());
    collector.begin(phase, total + 1);
    const auto acked0 = acked();
    std::size_t cursor = 0;
    const auto gw0 = read_proc(rig.gateway_pid());
    const auto br0 = read_proc(rig.broker_pid());
    const auto drops0 = udp_receive_buffer_errors();
    const auto t = run_step(
        StepSpec{rate, opt.step_seconds(), opt.quick ? 1000 : 2000, 500},
        [&](std::uint32_t seq) {
          const std::size_t i = cursor++ % n;
          write_stamp(payload, Stamp{phase, seq, static_cast<std::uint32_t>(i), now_ns()});
          return publish(i, topics[i], payload.data(), payload.size());
        },
        service, [&] { return collector.received() + acked(); },
        [&](std::uint64_t sent) {
          return collector.received() >= sent && (qos == 0 || acked() - acked0 >= sent);
        });
    const auto gw1 = read_proc(rig.gateway_pid());
    const auto br1 = read_proc(rig.broker_pid());
    const auto o =
        record(table, path, n, qos, rate, t, collector.finish(), acked() - acked0, 0, gw0, gw1, br0,
               br1, opt.step_seconds(), udp_receive_buffer_errors() - drops0, -1);
    best.add(o);
    progress("uplink " + path + " n=" + std::to_string(n) + " qos=" + std::to_string(qos) +
             " rate=" + std::to_string(static_cast<int>(rate)) + " -> " +
             std::to_string(static_cast<int>(o.delivered_rate)) + " msg/s, loss " +
             std::to_string(o.loss_pct) + " %");
    if (o.saturated) break;
  }
  return best;
}

Cell ratio(double a, double b) {
  return b > 0 ? num(100.0 * a / b, 0) : text("-");
}

}  // namespace

std::string run_uplink(Rig& rig, const Options& opt, Results& results) {
  Collector collector(rig.broker_uri(), "bench-collector-" + std::to_string(getpid()));
  const auto collector_error = opt.paho_subscriber
                                   ? collector.start("bench/u/+", 1)
                                   : collector.start_raw(rig.broker_port(), "bench/u/+", 1);
  if (!collector_error.empty()) return collector_error;
  std::vector<std::size_t> sizes =
      opt.quick ? std::vector<std::size_t>{1, 100} : std::vector<std::size_t>{1, 100, 1000};
  if (const char* only_n = std::getenv("MQTTSN_BENCH_N"))
    sizes = {static_cast<std::size_t>(std::atoi(only_n))};
  for (const std::size_t n : sizes) {
    Best gw[2];
    Best direct[2];
    Best raw[2];
    {
      if (auto err = rig.restart_gateway(); !err.empty()) return err;
      const auto idle = read_proc(rig.gateway_pid());
      Fleet fleet(rig.gateway_address(), n, "up" + std::to_string(n) + "-");
      if (!fleet.ok()) return fleet.error();
      const auto connected = connect_fleet(fleet, 600, 60000);
      const auto registered = register_fleet(fleet, "bench/u/", 60000);
      if (connected < n || registered < n) {
        return "uplink setup: " + std::to_string(connected) + " of " + std::to_string(n) +
               " sensors connected, " + std::to_string(registered) +
               " registered; gateway log: " + rig.gateway_log_tail();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      const auto busy = read_proc(rig.gateway_pid());
      results.memory.add(
          {text("uplink setup (connected + registered)"), num(std::uint64_t{n}),
           num(static_cast<double>(idle.rss_kb) / 1024, 1),
           num(static_cast<double>(busy.rss_kb) / 1024, 1),
           num(static_cast<double>(busy.rss_kb - std::min(busy.rss_kb, idle.rss_kb)) /
                   static_cast<double>(n),
               1),
           num(std::uint64_t{idle.threads}), num(std::uint64_t{busy.threads})});
      for (int qos = 0; qos <= 1; ++qos)
        gw[qos] = gateway_ladder(rig, opt, collector, fleet, qos, results.uplink);
      disconnect_fleet(fleet);
    }
    {
      Publishers pubs(rig.broker_uri(), n, "direct" + std::to_string(n) + "-");
      if (auto err = pubs.connect(); !err.empty()) return err;
      for (int qos = 0; qos <= 1; ++qos) {
        direct[qos] = direct_ladder(
            rig, opt, collector, "direct Paho", n, qos, results.uplink,
            [&](std::size_t i, const std::string& topic, const std::uint8_t* data,
                std::size_t size) { return pubs.publish(i, topic, data, size, qos); },
            [](int wait_ms) {
              if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
            },
            [&] { return pubs.acked(); });
      }
    }
    {
      RawPublishers pubs;
      if (auto err = pubs.connect(rig.broker_port(), n, "raw" + std::to_string(n) + "-");
          !err.empty())
        return err;
      for (int qos = 0; qos <= 1; ++qos) {
        raw[qos] = direct_ladder(
            rig, opt, collector, "direct raw", n, qos, results.uplink,
            [&](std::size_t i, const std::string& topic, const std::uint8_t* data,
                std::size_t size) { return pubs.publish(i, topic, data, size, qos); },
            [&](int wait_ms) { pubs.poll(wait_ms); }, [&] { return pubs.acked(); });
      }
    }
    for (int qos = 0; qos <= 1; ++qos) {
      results.uplink_summary.add({num(std::uint64_t{n}), num(std::uint64_t(qos)), num(gw[qos].peak),
                                  num(gw[qos].lossless), num(direct[qos].peak),
                                  num(direct[qos].lossless), ratio(gw[qos].peak, direct[qos].peak),
                                  ratio(gw[qos].lossless, direct[qos].peak), num(raw[qos].peak),
                                  ratio(gw[qos].peak, raw[qos].peak)});
    }
    if (n == 100 || (opt.quick && n == sizes.back())) {
      auto& f = results.figures;
      f.uplink_n = n;
      f.q0_gateway_lossless = gw[0].lossless;
      f.q0_direct = direct[0].peak;
      f.q1_gateway = gw[1].peak;
      f.q1_direct = direct[1].peak;
      f.q0_raw = raw[0].peak;
      f.q1_raw = raw[1].peak;
    }
  }
  rig.stop_gateway();
  return {};
}

}  // namespace bench
