// Uplink: sensors publish through the gateway (with --compare: two gateways, step by step); the
// same load goes straight to the broker from Paho clients and from the epoll client (the ceiling),
// with the sensors' QoS 1 window. A subscriber at the broker counts, dedups and times them all.
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "broker_clients.hpp"
#include "ladder.hpp"
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
  if (!o.rates.empty()) return o.rates;
  if (o.quick) return {2000, 8000};
  return {2000,  5000,  10000, 15000, 20000,  25000, 30000,
          40000, 50000, 60000, 80000, 100000, 120000};
}

// A short unrecorded step at the first rate before each ladder, so that what a change of QoS or
// of client costs once (first QoS 1 exchanges, buffers growing) is not charged to a measured step.
Options warm_up(const Options& opt) {
  Options o = opt;
  o.duration_s = 0.25;
  o.warm_up = true;
  return o;
}

// One row of the uplink table from a finished step; checks that the counts can be.
Outcome record(Table& table, const std::string& path, std::size_t n, int qos, double rate,
               const StepTimes& t, Collector::Result r, std::uint64_t acked, std::uint64_t rejected,
               const ProcStats& gw0, const ProcStats& gw1, const ProcStats& br0,
               const ProcStats& br1, double seconds, std::uint64_t udp_drops,
               std::int64_t gw_drops) {
  const double wall = static_cast<double>(t.end_ns - t.start_ns) / 1e9;
  const double span = std::max(seconds, static_cast<double>(r.last_ns - t.start_ns) / 1e9);
  auto o = judge(rate, t.offered, t.sent, r.received,
                 r.received == 0 ? 0 : static_cast<double>(r.received) / span);
  const std::string step = path + " n=" + std::to_string(n) + " qos=" + std::to_string(qos) +
                           " rate=" + std::to_string(static_cast<int>(rate));
  if (qos == 1 && acked > t.sent) {
    consistency_error(step + ": acked " + std::to_string(acked) + " > sent " +
                      std::to_string(t.sent));
  }
  if (r.received > t.sent) {
    consistency_error(step + ": delivered " + std::to_string(r.received) + " > sent " +
                      std::to_string(t.sent));
  }
  if (r.duplicates > 0 || r.stale > 0) {
    progress(step + ": at the subscriber " + std::to_string(r.duplicates) +
             " duplicates (a sequence number seen twice), " + std::to_string(r.stale) +
             " not of this step");
  }
  const auto lat = percentiles(std::move(r.latencies_ns));
  const bool via_gateway = gw0.ok && gw1.ok;
  const double gw_cpu = gw1.cpu_s - gw0.cpu_s;
  if (via_gateway) {
    o.gw_cpu_pct = 100.0 * gw_cpu / wall;
    if (r.received > 0) o.gw_cpu_s_per_100k = gw_cpu / static_cast<double>(r.received) * 1e5;
  }
  o.broker_cpu_pct = 100.0 * (br1.cpu_s - br0.cpu_s) / wall;
  // Every message lost on the way must be counted somewhere: by the gateway (its drops by reason)
  // or by the kernel (receive buffer overflows; machine-wide, so it may count others' too).
  const std::uint64_t lost = t.sent - std::min(t.sent, r.received);
  const std::uint64_t counted =
      udp_drops + static_cast<std::uint64_t>(std::max<std::int64_t>(gw_drops, 0));
  const bool accounted = via_gateway && gw_drops >= 0;
  table.add({text(path), num(std::uint64_t{n}), num(std::uint64_t(qos)), num(rate), num(t.sent),
             num(o.skipped), num(r.received), num(o.delivered_rate), num(o.loss_pct, 2),
             num(lat.p50_ms, 2), num(lat.p99_ms, 2), qos == 1 ? num(acked) : text("-"),
             num(rejected), via_gateway ? num(o.gw_cpu_pct, 0) : text("-"),
             num(o.broker_cpu_pct, 0),
             o.gw_cpu_s_per_100k >= 0 ? num(o.gw_cpu_s_per_100k, 2) : text("-"),
             via_gateway ? num(udp_drops) : text("-"),
             accounted ? num(static_cast<std::uint64_t>(gw_drops)) : text("-"),
             accounted ? num(lost - std::min(lost, counted)) : text("-")});
  progress("uplink " + step + " -> " + std::to_string(static_cast<int>(o.delivered_rate)) +
           " msg/s, loss " + std::to_string(o.loss_pct) + " %, skipped " +
           std::to_string(o.skipped));
  return o;
}

std::string path_name(const Rig& rig) {
  return rig.gateway_count() > 1 ? "gateway (" + rig.gateway_label() + ")" : "gateway";
}

// One step of the selected gateway with its fleet at `rate`.
Outcome gateway_step(Rig& rig, const Options& opt, Collector& collector, Fleet& fleet, int qos,
                     double rate, Table& table) {
  const std::size_t n = fleet.size();
  mqttsn::Publish pub;
  pub.flags.qos = qos == 1 ? mqttsn::QoS::AtLeastOnce : mqttsn::QoS::AtMostOnce;
  pub.flags.topic_id_type = mqttsn::TopicIdType::Normal;
  pub.data.assign(kPayloadSize, 0);
  const auto phase = new_phase();
  const auto total = static_cast<std::size_t>(rate * opt.step_seconds());
  collector.begin(phase, total + 1);
  for (std::size_t i = 0; i < n; ++i) fleet[i].inflight = 0;
  std::uint64_t acked = 0;
  std::uint64_t rejected = 0;
  std::size_t cursor = 0;
  // The message ids this step sent and not yet seen acknowledged, per sensor: a late PUBACK of
  // an earlier step, or a second PUBACK for one message, is not an ack of this step.
  std::vector<std::vector<bool>> pending(qos == 1 ? n : 0, std::vector<bool>(65536, false));
  auto handler = [&](std::size_t i, const mqttsn::Message& m, std::int64_t) {
    if (const auto* ack = std::get_if<mqttsn::PubAck>(&m)) {
      if (qos != 1 || !pending[i][ack->msg_id]) return;
      pending[i][ack->msg_id] = false;
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
        if (qos == 1) {
          ++s.inflight;
          pending[i][pub.msg_id] = true;
        }
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
  return record(table, path_name(rig) + (opt.warm_up ? " warm-up" : ""), n, qos, rate, t,
                collector.finish(), acked, rejected, gw0, gw1, br0, br1, opt.step_seconds(),
                udp_receive_buffer_errors() - drops0,
                gw_drops0 >= 0 && gw_drops1 >= gw_drops0 ? gw_drops1 - gw_drops0 : -1);
}

// The same load straight to the broker; `publish`, `service` and `acked` say through which client.
// `begin_step(phase)` tells the client which acks belong to the step.
Ladder direct_ladder(Rig& rig, const Options& opt, Collector& collector, const std::string& path,
                     std::size_t n, int qos, Table& table,
                     const std::function<bool(std::size_t, const std::string&, const std::uint8_t*,
                                              std::size_t)>& publish,
                     const std::function<void(int)>& service,
                     const std::function<void(std::uint32_t)>& begin_step,
                     const std::function<std::uint64_t()>& acked) {
  Ladder result;
  std::vector<std::string> topics;
  for (std::size_t i = 0; i < n; ++i) topics.push_back("bench/u/" + std::to_string(i));
  std::vector<std::uint8_t> payload(kPayloadSize, 0);
  auto one_step = [&](double rate, const Options& o, Table& into) {
    const auto phase = new_phase();
    const auto total = static_cast<std::size_t>(rate * o.step_seconds());
    collector.begin(phase, total + 1);
    begin_step(phase);
    const auto acked0 = acked();
    std::size_t cursor = 0;
    const auto br0 = read_proc(rig.broker_pid());
    const auto t = run_step(
        StepSpec{rate, o.step_seconds(), o.quick ? 1000 : 2000, 500},
        [&](std::uint32_t seq) {
          const std::size_t i = cursor++ % n;
          write_stamp(payload, Stamp{phase, seq, static_cast<std::uint32_t>(i), now_ns()});
          return publish(i, topics[i], payload.data(), payload.size());
        },
        service, [&] { return collector.received() + acked(); },
        [&](std::uint64_t sent) {
          return collector.received() >= sent && (qos == 0 || acked() - acked0 >= sent);
        });
    const auto br1 = read_proc(rig.broker_pid());
    return record(into, o.warm_up ? path + " warm-up" : path, n, qos, rate, t, collector.finish(),
                  acked() - acked0, 0, ProcStats{}, ProcStats{}, br0, br1, o.step_seconds(), 0, -1);
  };
  Table scratch;
  one_step(ladder(opt).front(), warm_up(opt), scratch);
  for (const double rate : ladder(opt)) {
    std::vector<Outcome> runs;
    for (int r = 0; r < opt.repeat; ++r) runs.push_back(one_step(rate, opt, table));
    result.push_back(combine(runs));
    if (result.back().saturated) break;
  }
  return result;
}

// The gateway fleets' ladders (one per gateway under test), interleaved step by step: with
// --compare, before and after take turns at each rate so that the machine's load drift hits both
// (with --repeat N: before, after, before, after... N times, combined by `combine`).
// A gateway that saturated sits out the higher rates.
std::vector<Ladder> gateway_ladders(Rig& rig, const Options& opt, Collector& collector,
                                    std::vector<std::unique_ptr<Fleet>>& fleets, int qos,
                                    Table& table) {
  std::vector<Ladder> result(fleets.size());
  std::vector<bool> done(fleets.size(), false);
  Table scratch;
  for (std::size_t g = 0; g < fleets.size(); ++g) {
    rig.select_gateway(g);
    gateway_step(rig, warm_up(opt), collector, *fleets[g], qos, ladder(opt).front(), scratch);
  }
  for (const double rate : ladder(opt)) {
    std::vector<std::vector<Outcome>> runs(fleets.size());
    for (int r = 0; r < opt.repeat; ++r) {
      for (std::size_t g = 0; g < fleets.size(); ++g) {
        if (done[g]) continue;
        rig.select_gateway(g);
        runs[g].push_back(gateway_step(rig, opt, collector, *fleets[g], qos, rate, table));
      }
    }
    for (std::size_t g = 0; g < fleets.size(); ++g) {
      if (done[g]) continue;
      result[g].push_back(combine(runs[g]));
      done[g] = result[g].back().saturated;
    }
    if (std::find(done.begin(), done.end(), false) == done.end()) break;
  }
  return result;
}

}  // namespace

std::string run_uplink(Rig& rig, const Options& opt, Results& results) {
  Collector collector(rig.broker_uri(), "bench-collector-" + std::to_string(getpid()));
  const auto collector_error = opt.paho_subscriber
                                   ? collector.start("bench/u/+", 1)
                                   : collector.start_raw(rig.broker_port(), "bench/u/+", 1);
  if (!collector_error.empty()) return collector_error;
  const std::vector<std::size_t> sizes =
      opt.sensors.empty()
          ? (opt.quick ? std::vector<std::size_t>{1, 100} : std::vector<std::size_t>{1, 100, 1000})
          : opt.sensors;
  const std::uint32_t window = opt.direct_window;
  for (const std::size_t n : sizes) {
    std::vector<Ladder> gw[2];
    Ladder direct[2];
    Ladder raw[2];
    std::vector<std::unique_ptr<Fleet>> fleets;
    for (std::size_t g = 0; g < rig.gateway_count() && opt.wants_path("gateway"); ++g) {
      rig.select_gateway(g);
      if (auto err = rig.restart_gateway(); !err.empty()) return err;
      fleets.push_back(std::make_unique<Fleet>(
          rig.gateway_address(), n, "up" + std::to_string(n) + "-" + std::to_string(g) + "-"));
      auto& fleet = *fleets.back();
      if (!fleet.ok()) return fleet.error();
      const auto connected = connect_fleet(fleet, 600, 60000);
      const auto registered = register_fleet(fleet, "bench/u/", 60000);
      if (connected < n || registered < n) {
        return "uplink setup: " + std::to_string(connected) + " of " + std::to_string(n) +
               " sensors connected, " + std::to_string(registered) +
               " registered; gateway log: " + rig.gateway_log_tail();
      }
      record_memory(rig, "uplink setup (connected + registered)", n, results);
    }
    for (int qos = 0; qos <= 1 && !fleets.empty(); ++qos) {
      if (opt.wants_qos(qos))
        gw[qos] = gateway_ladders(rig, opt, collector, fleets, qos, results.uplink);
    }
    for (std::size_t g = 0; g < fleets.size(); ++g) {
      rig.select_gateway(g);
      disconnect_fleet(*fleets[g]);
    }
    fleets.clear();
    rig.stop_all_gateways();  // the direct baselines run without a gateway in the way
    if (opt.wants_path("paho")) {
      Publishers pubs(rig.broker_uri(), n, "direct" + std::to_string(n) + "-");
      if (auto err = pubs.connect(); !err.empty()) return err;
      for (int qos = 0; qos <= 1; ++qos) {
        if (!opt.wants_qos(qos)) continue;
        direct[qos] = direct_ladder(
            rig, opt, collector, "direct Paho", n, qos, results.uplink,
            [&](std::size_t i, const std::string& topic, const std::uint8_t* data,
                std::size_t size) { return pubs.publish(i, topic, data, size, qos, window); },
            [](int wait_ms) {
              if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
            },
            [&](std::uint32_t phase) { pubs.begin_step(phase); }, [&] { return pubs.acked(); });
      }
      if (pubs.failed() > 0) {
        progress("direct Paho: " + std::to_string(pubs.failed()) +
                 " publishes refused by Paho (counted as skipped), last code " +
                 std::to_string(pubs.last_error()));
      }
      if (pubs.late_acks() > 0) {
        progress("direct Paho: " + std::to_string(pubs.late_acks()) +
                 " acks arrived after their step (not counted)");
      }
    }
    if (opt.wants_path("epoll")) {
      RawPublishers pubs;
      if (auto err = pubs.connect(rig.broker_port(), n, "raw" + std::to_string(n) + "-");
          !err.empty())
        return err;
      for (int qos = 0; qos <= 1; ++qos) {
        if (!opt.wants_qos(qos)) continue;
        raw[qos] = direct_ladder(
            rig, opt, collector, "direct epoll", n, qos, results.uplink,
            [&](std::size_t i, const std::string& topic, const std::uint8_t* data,
                std::size_t size) { return pubs.publish(i, topic, data, size, qos, window); },
            [&](int wait_ms) { pubs.poll(wait_ms); }, [&](std::uint32_t) { pubs.begin_step(); },
            [&] { return pubs.acked(); });
      }
      if (pubs.unexpected() > 0) {
        consistency_error("direct epoll: " + std::to_string(pubs.unexpected()) +
                          " octets from the broker that were not PUBACKs");
      }
      if (pubs.late_acks() > 0) {
        progress("direct epoll: " + std::to_string(pubs.late_acks()) +
                 " acks arrived after their step (not counted)");
      }
    }
    for (int qos = 0; qos <= 1; ++qos) {
      for (std::size_t g = 0; g < gw[qos].size(); ++g) {
        rig.select_gateway(g);
        add_summary_row(results.uplink_summary, n, qos, path_name(rig), gw[qos][g]);
      }
      if (!direct[qos].empty())
        add_summary_row(results.uplink_summary, n, qos, "direct Paho", direct[qos]);
      if (!raw[qos].empty())
        add_summary_row(results.uplink_summary, n, qos, "direct epoll", raw[qos]);
      if (gw[qos].size() == 2) add_compare_rows(results.compare, n, qos, gw[qos][0], gw[qos][1]);
    }
    const bool has_100 = std::find(sizes.begin(), sizes.end(), 100) != sizes.end();
    if (n == 100 || (!has_100 && n == sizes.back())) {
      auto& f = results.figures;
      auto lossless = [](const Ladder& l) -> std::optional<double> {
        const auto* b = best_lossless(l);
        return b ? std::optional<double>(b->delivered_rate) : std::optional<double>(0.0);
      };
      auto cpu_at = [](const Ladder& l, double rate) -> std::optional<double> {
        for (const auto& o : l) {
          if (o.offered_rate == rate && o.gw_cpu_s_per_100k >= 0) return o.gw_cpu_s_per_100k;
        }
        return std::nullopt;
      };
      f.uplink_n = n;
      // The figures of this build (the "after" one with --compare).
      if (!gw[0].empty()) f.q0_gateway_lossless = lossless(gw[0].back());
      if (!gw[1].empty()) f.q1_gateway = lossless(gw[1].back());
      if (!direct[0].empty()) f.q0_direct = lossless(direct[0]);
      if (!direct[1].empty()) f.q1_direct = lossless(direct[1]);
      if (!raw[0].empty()) f.q0_raw = lossless(raw[0]);
      if (!raw[1].empty()) f.q1_raw = lossless(raw[1]);
      if (gw[0].size() == 2) {
        f.q0_cpu_before = cpu_at(gw[0][0], 10000);
        f.q0_cpu_after = cpu_at(gw[0][1], 10000);
      }
    }
  }
  rig.stop_all_gateways();
  return {};
}

}  // namespace bench
