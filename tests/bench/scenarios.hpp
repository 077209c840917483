// The measured scenarios and the tables they fill.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "fleet.hpp"
#include "report.hpp"
#include "rig.hpp"

namespace bench {

// Figures the benchmark targets (docs/benchmarks.md) are judged on.
struct Figures {
  // Highest lossless msg/s (100 sensors) of each path, with the same QoS 1 window everywhere.
  std::optional<double> q0_gateway_lossless;
  std::optional<double> q0_direct;  // direct Paho
  std::optional<double> q1_gateway;
  std::optional<double> q1_direct;
  std::optional<double> q0_raw;  // direct epoll publishers: the ceiling without a library
  std::optional<double> q1_raw;
  // Gateway CPU s per 100k QoS 0 uplink messages at 10000 msg/s, --compare's before and after.
  std::optional<double> q0_cpu_before;
  std::optional<double> q0_cpu_after;
  std::size_t uplink_n = 0;
  std::size_t storm_n = 0;
  std::uint64_t storm_accepted = 0;
  std::optional<double> paced_p50_ms;
  std::size_t memory_n = 0;
  std::optional<double> per_sensor_kb;
  std::optional<double> rss_mb_at_n;
  bool aggregating = false;  // the gateway ran with broker.mode = "aggregating"
};

struct Results {
  Table uplink;
  Table uplink_summary;
  Table compare;  // --compare: before and after, step by step
  Table downlink;
  Table storm;
  Table memory;
  Figures figures;
};
Results make_results();
Table targets_table(const Results& r);

std::string run_uplink(Rig& rig, const Options& options, Results& results);
std::string run_downlink(Rig& rig, const Options& options, Results& results);
std::string run_storm(Rig& rig, const Options& options, Results& results);

// Memory of the selected gateway with n sensors in: (RSS - idle RSS) / n, the idle RSS read
// kSettleMs after start and this one kSettleMs after the call; adds the row to results.memory.
struct MemoryReading {
  double rss_mb = 0;
  double per_sensor_kb = 0;
};
MemoryReading record_memory(Rig& rig, const std::string& when, std::size_t n, Results& results);

// Runs a scenario against each gateway under test in turn (--compare: before, then after), the
// storm rows marked with the gateway's label; the uplink interleaves the two itself, step by step.
using Scenario = std::function<std::string(Rig&, const Options&, Results&)>;
std::string run_each_gateway(const std::string& name, Scenario fn, Rig& rig, const Options& opt,
                             Results& results);

// A fresh phase number: stamps of earlier phases that arrive late are not counted.
std::uint32_t new_phase();

// Setup helpers (with retries: setup is not what is measured).
std::size_t connect_fleet(Fleet& fleet, std::uint16_t keep_alive_s, int timeout_ms);
std::size_t register_fleet(Fleet& fleet, const std::string& topic_prefix, int timeout_ms);
std::size_t subscribe_fleet(Fleet& fleet, const std::string& topic_prefix, int timeout_ms);
void disconnect_fleet(Fleet& fleet);

// Answers what the gateway may ask of any sensor at any time (REGISTER -> REGACK).
void answer_gateway(Fleet& fleet, std::size_t i, const mqttsn::Message& m);

}  // namespace bench
