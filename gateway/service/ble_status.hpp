// The "ble" value of <prefix>/status: per adapter, links in use (and the most seen at once) out
// of max_connections, connect attempts, connects refused by the controller, links released.
#pragma once

#include <string>
#include <vector>

#include "transports/ble/ble_transport.hpp"

namespace gw {

inline std::string ble_adapters_json(const std::vector<transport::BleTransport::AdapterInfo>& all) {
  std::string out = "{\"adapters\": {";
  bool first = true;
  for (const auto& a : all) {
    if (!a.in_use) continue;
    out += (first ? "\"" : ", \"") + a.name +
           "\": {\"powered\": " + (a.powered ? "true" : "false") +
           ", \"links\": " + std::to_string(a.links) +
           ", \"max_links\": " + std::to_string(a.max_links) +
           ", \"max_connections\": " + std::to_string(a.max_connections) +
           ", \"connects\": " + std::to_string(a.connects) +
           ", \"refused\": " + std::to_string(a.refused) +
           ", \"released\": " + std::to_string(a.released) + "}";
    first = false;
  }
  return out + "}}";
}

}  // namespace gw
