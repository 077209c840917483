// What every scenario shares: one memory-per-sensor method (docs/benchmarks.md), both readings
// taken kSettleMs after the state they describe (the gateway answering, the sensors being in);
// and running a scenario against each gateway under test.
#include <algorithm>
#include <chrono>
#include <thread>

#include "processes.hpp"
#include "scenarios.hpp"

namespace bench {

MemoryReading record_memory(Rig& rig, const std::string& when, std::size_t n, Results& results) {
  std::this_thread::sleep_for(std::chrono::milliseconds(kSettleMs));
  const auto idle = rig.idle_stats();
  const auto busy = read_proc(rig.gateway_pid());
  MemoryReading m;
  m.rss_mb = static_cast<double>(busy.rss_kb) / 1024;
  m.per_sensor_kb = n == 0 ? 0
                           : static_cast<double>(busy.rss_kb - std::min(busy.rss_kb, idle.rss_kb)) /
                                 static_cast<double>(n);
  const std::string label = rig.gateway_count() > 1 ? rig.gateway_label() + ": " + when : when;
  results.memory.add({text(label), num(std::uint64_t{n}),
                      num(static_cast<double>(idle.rss_kb) / 1024, 1), num(m.rss_mb, 1),
                      n == 0 ? text("-") : num(m.per_sensor_kb, 2),
                      num(std::uint64_t{idle.threads}), num(std::uint64_t{busy.threads})});
  return m;
}

std::string run_each_gateway(const std::string& name, Scenario fn, Rig& rig, const Options& opt,
                             Results& results) {
  if (name == "uplink" || rig.gateway_count() == 1) {
    rig.select_gateway(rig.gateway_count() - 1);
    return fn(rig, opt, results);
  }
  for (std::size_t g = 0; g < rig.gateway_count(); ++g) {
    rig.select_gateway(g);
    const auto first = results.storm.rows.size();
    if (auto err = fn(rig, opt, results); !err.empty()) return rig.gateway_label() + ": " + err;
    for (auto i = first; i < results.storm.rows.size(); ++i) {
      auto& cell = results.storm.rows[i].front();
      cell.text = rig.gateway_label() + ": " + cell.text;
    }
  }
  rig.select_gateway(rig.gateway_count() - 1);
  return {};
}

}  // namespace bench
