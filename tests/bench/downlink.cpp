// Downlink: a Paho client publishes to the topics the sensors subscribed to; the sensors count,
// dedup and time what the gateway forwards, and acknowledge QoS 1.
#include <algorithm>

#include "broker_clients.hpp"
#include "processes.hpp"
#include "scenarios.hpp"
#include "step.hpp"

namespace bench {

namespace {
std::vector<double> ladder(const Options& o) {
  if (o.quick) return {1000, 4000};
  return {1000, 2000, 5000, 10000, 20000, 40000};
}
}  // namespace

std::string run_downlink(Rig& rig, const Options& opt, Results& results) {
  const std::vector<std::size_t> sizes =
      opt.quick ? std::vector<std::size_t>{10} : std::vector<std::size_t>{100, 1000};
  for (const std::size_t n : sizes) {
    if (auto err = rig.restart_gateway(); !err.empty()) return err;
    Fleet fleet(rig.gateway_address(), n, "down" + std::to_string(n) + "-");
    if (!fleet.ok()) return fleet.error();
    const auto connected = connect_fleet(fleet, 600, 60000);
    const auto subscribed = subscribe_fleet(fleet, "bench/d/", 60000);
    if (connected < n || subscribed < n) {
      return "downlink setup: " + std::to_string(connected) + " of " + std::to_string(n) +
             " connected, " + std::to_string(subscribed) +
             " subscribed; gateway log: " + rig.gateway_log_tail();
    }
    Publishers source(rig.broker_uri(), 1, "bench-source-");
    if (auto err = source.connect(); !err.empty()) return err;
    std::vector<std::string> topics;
    for (std::size_t i = 0; i < n; ++i) topics.push_back("bench/d/" + std::to_string(i));
    std::vector<std::uint8_t> payload(kPayloadSize, 0);
    for (int qos = 0; qos <= 1; ++qos) {
      for (const double rate : ladder(opt)) {
        const auto phase = new_phase();
        const auto total = static_cast<std::size_t>(rate * opt.step_seconds());
        std::vector<std::uint8_t> seen(total + 1, 0);
        std::vector<std::int64_t> latencies;
        latencies.reserve(total);
        std::uint64_t received = 0;
        std::uint64_t duplicates = 0;
        std::int64_t last_ns = 0;
        auto handler = [&](std::size_t i, const mqttsn::Message& m, std::int64_t now) {
          const auto* p = std::get_if<mqttsn::Publish>(&m);
          if (p == nullptr) {
            answer_gateway(fleet, i, m);
            return;
          }
          if (p->flags.qos == mqttsn::QoS::AtLeastOnce) {
            fleet.send(i, mqttsn::PubAck{p->topic_id, p->msg_id, mqttsn::ReturnCode::Accepted});
          }
          const auto stamp = read_stamp(p->data);
          if (!stamp || stamp->phase != phase) return;
          if (stamp->seq >= seen.size() || seen[stamp->seq] != 0) {
            ++duplicates;
            return;
          }
          seen[stamp->seq] = 1;
          ++received;
          last_ns = now;
          latencies.push_back(now - stamp->sent_ns);
        };
        std::size_t cursor = 0;
        const auto gw0 = read_proc(rig.gateway_pid());
        const auto t = run_step(
            StepSpec{rate, opt.step_seconds(), opt.quick ? 1000 : 3000, 700},
            [&](std::uint32_t seq) {
              const std::size_t i = cursor++ % n;
              write_stamp(payload, Stamp{phase, seq, static_cast<std::uint32_t>(i), now_ns()});
              return source.publish(0, topics[i], payload.data(), payload.size(), qos);
            },
            [&](int wait_ms) { fleet.poll(wait_ms, handler); }, [&] { return received; },
            [&](std::uint64_t sent) { return received >= sent; });
        const auto gw1 = read_proc(rig.gateway_pid());
        const double wall = static_cast<double>(t.end_ns - t.start_ns) / 1e9;
        const double span =
            std::max(opt.step_seconds(), static_cast<double>(last_ns - t.start_ns) / 1e9);
        const double delivered_rate = received == 0 ? 0 : static_cast<double>(received) / span;
        const double loss = t.sent == 0
                                ? 0
                                : 100.0 * static_cast<double>(t.sent - std::min(t.sent, received)) /
                                      static_cast<double>(t.sent);
        const auto lat = percentiles(std::move(latencies));
        const double gw_cpu = gw1.cpu_s - gw0.cpu_s;
        results.downlink.add(
            {text(rig.gateway_label()), num(std::uint64_t{n}), num(std::uint64_t(qos)), num(rate),
             num(t.sent), num(received), num(delivered_rate), num(loss, 2), num(lat.p50_ms, 2),
             num(lat.p99_ms, 2), num(duplicates), num(100.0 * gw_cpu / wall, 0),
             received > 0 ? num(gw_cpu / static_cast<double>(received) * 1e5, 2) : text("-")});
        progress("downlink n=" + std::to_string(n) + " qos=" + std::to_string(qos) +
                 " rate=" + std::to_string(static_cast<int>(rate)) + " -> " +
                 std::to_string(static_cast<int>(delivered_rate)) + " msg/s, loss " +
                 std::to_string(loss) + " %");
        if (delivered_rate < 0.9 * rate || loss > 1.0) break;
      }
    }
    disconnect_fleet(fleet);
  }
  rig.stop_gateway();
  return {};
}

}  // namespace bench
