// The gateway's /metrics page: the figures of the status topic (gateway/service/status.cpp) as
// Prometheus families. Aggregates only, no per-sensor series (a fleet has thousands of ClientIds).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "gateway/runtime/runtime.hpp"
#include "transports/udp/udp_transport.hpp"

namespace gw::metrics {

// One BLE adapter's links (transports/ble/ble_transport.hpp AdapterInfo).
struct BleAdapterFigures {
  std::uint64_t links = 0, max_connections = 0, refused = 0, released = 0;
};

// What main owns besides the runtime, read on every scrape.
struct Extras {
  std::string version;
  double start_time_seconds = 0;                                // Unix time the process started
  std::optional<transport::UdpCounters> udp;                    // when [udp] is enabled
  std::optional<std::map<std::string, BleAdapterFigures>> ble;  // by adapter, when [ble] is on
};

std::string render(const Runtime& runtime, const Extras& extras);

}  // namespace gw::metrics
