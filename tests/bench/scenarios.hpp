// The measured scenarios and the tables they fill.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fleet.hpp"
#include "report.hpp"
#include "rig.hpp"

namespace bench {

// Figures the benchmark targets (docs/benchmarks.md) are judged on.
struct Figures {
  std::optional<double> q0_gateway_lossless;  // msg/s, 100 sensors
  std::optional<double> q0_direct;
  std::optional<double> q1_gateway;
  std::optional<double> q1_direct;
  std::optional<double> q0_raw;  // raw-socket publishers: the broker's own ceiling
  std::optional<double> q1_raw;
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
