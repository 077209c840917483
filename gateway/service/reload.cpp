#include "gateway/service/reload.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>

namespace gw {

namespace {

// "admission.networks: +10.2.0.0/16 -10.1.0.0/16": what a list gained and lost.
void diff_list(ReloadPlan& p, const std::string& key, const std::vector<std::string>& o,
               const std::vector<std::string>& n) {
  std::string s;
  for (const auto& x : n)
    if (std::find(o.begin(), o.end(), x) == o.end()) s += " +" + x;
  for (const auto& x : o)
    if (std::find(n.begin(), n.end(), x) == n.end()) s += " -" + x;
  if (s.empty() && o != n) s = " reordered";
  if (!s.empty()) p.changes.push_back(key + ":" + s + (n.empty() ? " (now: everyone)" : ""));
}

void diff_number(ReloadPlan& p, const std::string& key, std::uint64_t o, std::uint64_t n) {
  if (o != n) p.changes.push_back(key + " " + std::to_string(o) + " -> " + std::to_string(n));
}

}  // namespace

ReloadPlan plan_reload(const Config& o, const Config& n, bool log_level_pinned) {
  ReloadPlan p;
  if (!log_level_pinned && o.gateway.log_level != n.gateway.log_level)
    p.changes.push_back("log_level " + o.gateway.log_level + " -> " + n.gateway.log_level);
  std::size_t added = 0, removed = 0, renamed = 0;
  for (const auto& [id, name] : n.predefined_topics) {
    auto it = o.predefined_topics.find(id);
    if (it == o.predefined_topics.end())
      ++added;
    else if (it->second != name)
      ++renamed;
  }
  for (const auto& [id, name] : o.predefined_topics)
    if (!n.predefined_topics.contains(id)) ++removed;
  if (added + removed + renamed > 0) {
    std::string s = "predefined topics: +" + std::to_string(added) + " -" + std::to_string(removed);
    if (renamed > 0) s += " ~" + std::to_string(renamed);
    p.changes.push_back(std::move(s));
  }
  if (o.ble.allow != n.ble.allow) {
    // Addresses compared case-insensitively; the BLE transport logs which ones.
    const auto upper = [](std::vector<std::string> v) {
      for (auto& a : v)
        std::transform(a.begin(), a.end(), a.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      return v;
    };
    const auto was = upper(o.ble.allow), now = upper(n.ble.allow);
    const auto count_missing = [](const auto& from, const auto& in) {
      return std::count_if(from.begin(), from.end(), [&](const std::string& a) {
        return std::find(in.begin(), in.end(), a) == in.end();
      });
    };
    const auto plus = count_missing(now, was), minus = count_missing(was, now);
    if (plus + minus > 0)
      p.changes.push_back("ble.allow: +" + std::to_string(plus) + " -" + std::to_string(minus));
  }
  const auto& oa = o.admission;
  const auto& na = n.admission;
  diff_list(p, "admission.client_ids", oa.client_ids, na.client_ids);
  diff_list(p, "admission.networks", oa.networks, na.networks);
  diff_number(p, "admission.max_sessions", oa.max_sessions, na.max_sessions);
  diff_number(p, "admission.rate_limit_pps", oa.rate_limit_pps, na.rate_limit_pps);
  diff_number(p, "admission.rate_limit_burst", oa.rate_limit_burst, na.rate_limit_burst);
  diff_number(p, "admission.rate_limit_sources", oa.rate_limit_sources, na.rate_limit_sources);
  const auto& op = o.protocol;
  const auto& np = n.protocol;
  diff_number(p, "protocol.max_buffered_per_client", op.max_buffered_per_client,
              np.max_buffered_per_client);
  diff_number(p, "protocol.max_buffered_bytes_per_client", op.max_buffered_bytes_per_client,
              np.max_buffered_bytes_per_client);
  diff_number(p, "protocol.max_buffered_total", op.max_buffered_total, np.max_buffered_total);
  diff_number(p, "protocol.max_buffered_bytes_total", op.max_buffered_bytes_total,
              np.max_buffered_bytes_total);
  // Everything else is read at start only.
  if (o.gateway.id != n.gateway.id) p.ignored.push_back("gateway.id");
  if (o.broker.uri != n.broker.uri) p.ignored.push_back("broker.uri");
  // The template names are fixed at start; the files they name are read at each sensor connect.
  if (o.broker.tls.cert_file_template != n.broker.tls.cert_file_template)
    p.ignored.push_back("broker.tls.cert_file_template");
  if (o.broker.tls.key_file_template != n.broker.tls.key_file_template)
    p.ignored.push_back("broker.tls.key_file_template");
  if (o.udp.listen != n.udp.listen) p.ignored.push_back("udp.listen");
  if (o.udp.enabled != n.udp.enabled) p.ignored.push_back("udp.enabled");
  if (o.ble.enabled != n.ble.enabled) p.ignored.push_back("ble.enabled");
  if (o.state.path != n.state.path) p.ignored.push_back("state.path");
  // [dtls]: only the PSK file's contents are reloaded (gateway/service/dtls_service.hpp).
  const auto& od = o.dtls;
  const auto& nd = n.dtls;
  if (od.enabled != nd.enabled) p.ignored.push_back("dtls.enabled");
  if (od.listen != nd.listen) p.ignored.push_back("dtls.listen");
  if (od.cert_file != nd.cert_file || od.key_file != nd.key_file || od.ca_file != nd.ca_file ||
      od.require_certificate != nd.require_certificate)
    p.ignored.push_back("dtls certificates");
  if (od.identity_must_match_client_id != nd.identity_must_match_client_id)
    p.ignored.push_back("dtls.identity_must_match_client_id");
  if (o.metrics.listen != n.metrics.listen) p.ignored.push_back("metrics.listen");
  return p;
}

void apply_predefined(PredefinedTopics& live, const std::map<std::uint16_t, std::string>& wanted) {
  // Swapped whole: every session resolves through `live`, so none keeps a stale reverse index.
  live.replace(PredefinedTopicSet(wanted));
}

}  // namespace gw
