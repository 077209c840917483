#include "transports/ble/link_manager.hpp"

#include <algorithm>

namespace transport::ble {

namespace {

bool holds_slot(LinkState s) {
  return s != LinkState::Idle;
}

}  // namespace

void LinkManager::adapter_up(const std::string& adapter) {
  up_.insert(adapter);
  stats_[adapter];
}

void LinkManager::adapter_down(const std::string& adapter) {
  up_.erase(adapter);
  full_.erase(adapter);
  for (auto& [name, s] : sensors_) {
    s.seen.erase(adapter);
    if (holds_slot(s.state) && s.adapter == adapter) {
      s.state = LinkState::Idle;
      s.adapter.clear();
    }
  }
}

void LinkManager::advert(const std::string& sensor, const std::string& adapter, int rssi,
                         LinkTime now) {
  sensors_[sensor].seen[adapter] = Seen{rssi, now};
}

void LinkManager::count_link(const std::string& adapter) {
  auto& st = stats_[adapter];
  st.max_links = std::max(st.max_links, used(adapter));
}

void LinkManager::linked(const std::string& sensor, const std::string& adapter, LinkTime now) {
  auto& s = sensors_[sensor];
  s.state = LinkState::Ready;
  s.adapter = adapter;
  s.last_activity = now;
  s.attempts.clear();
  s.failures = 0;
  count_link(adapter);
}

void LinkManager::connect_failed(const std::string& sensor, ConnectError why, LinkTime now) {
  const auto it = sensors_.find(sensor);
  if (it == sensors_.end()) return;
  auto& s = it->second;
  if (why == ConnectError::Refused) {
    ++s.refused;
    if (!s.adapter.empty()) {
      ++stats_[s.adapter].refused;
      s.state = LinkState::Idle;  // not counted below
      full_[s.adapter] = Full{used(s.adapter), now + kFullFor};
    }
  }
  s.state = LinkState::Idle;
  s.adapter.clear();
  const auto first = why == ConnectError::Refused ? kFirstRetryRefused : kFirstRetry;
  const auto shift = std::min(s.failures, 8U);
  s.failures = s.failures + 1;
  const auto wait = std::min<std::chrono::seconds>(first * (1 << shift), kMaxRetry);
  s.retry_at = now + wait;
}

void LinkManager::link_lost(const std::string& sensor, LinkTime now) {
  const auto it = sensors_.find(sensor);
  if (it == sensors_.end()) return;
  auto& s = it->second;
  if (s.state == LinkState::Connecting) {
    connect_failed(sensor, ConnectError::Other, now);
  } else {
    s.state = LinkState::Idle;
    s.adapter.clear();
  }
  s.seen.clear();  // a sensor that went away advertises again before we connect
}

void LinkManager::forget(const std::string& sensor) {
  sensors_.erase(sensor);
}

void LinkManager::activity(const std::string& sensor, LinkTime now) {
  const auto it = sensors_.find(sensor);
  if (it != sensors_.end()) it->second.last_activity = now;
}

void LinkManager::set_idle(const std::string& sensor, bool idle, LinkTime now) {
  auto& s = sensors_[sensor];
  if (s.idle != idle) s.last_activity = now;  // the sleep (or the exchange) starts now
  s.idle = idle;
  s.hinted = true;
}

std::size_t LinkManager::used(const std::string& adapter) const {
  return static_cast<std::size_t>(std::count_if(
      sensors_.begin(), sensors_.end(),
      [&](const auto& p) { return holds_slot(p.second.state) && p.second.adapter == adapter; }));
}

std::size_t LinkManager::capacity(const std::string& adapter, LinkTime now) const {
  const auto it = full_.find(adapter);
  if (it == full_.end() || now >= it->second.until) return policy_.max_connections;
  return std::min(policy_.max_connections, std::max<std::size_t>(it->second.links, 1));
}

bool LinkManager::candidate(const Sensor& s, LinkTime now) const {
  if (s.state != LinkState::Idle || now < s.retry_at) return false;
  // At most two attempts in any minute until one succeeds.
  if (s.attempts.size() >= 2 && now < s.attempts[s.attempts.size() - 2] + kAttemptWindow)
    return false;
  return std::any_of(s.seen.begin(), s.seen.end(), [&](const auto& p) {
    return up_.count(p.first) && now - p.second.at <= kAdvertFresh;
  });
}

std::optional<std::string> LinkManager::best_free_adapter(const Sensor& s, LinkTime now) const {
  std::optional<std::string> best;
  int best_rssi = 0;
  std::size_t best_used = 0;
  for (const auto& [adapter, seen] : s.seen) {
    if (!up_.count(adapter) || now - seen.at > kAdvertFresh) continue;
    const auto n = used(adapter);
    if (n >= capacity(adapter, now)) continue;
    if (!best || seen.rssi > best_rssi || (seen.rssi == best_rssi && n < best_used)) {
      best = adapter;
      best_rssi = seen.rssi;
      best_used = n;
    }
  }
  return best;
}

// The least recently used asleep link on an adapter that sees `s`; none while a release that
// would free a slot there is still under way.
const std::string* LinkManager::victim_for(const Sensor& s, LinkTime now) const {
  const std::string* victim = nullptr;
  LinkTime oldest{};
  for (const auto& [adapter, seen] : s.seen) {
    if (!up_.count(adapter) || now - seen.at > kAdvertFresh) continue;
    for (const auto& [name, other] : sensors_) {
      if (other.adapter != adapter) continue;
      if (other.state == LinkState::Releasing) return nullptr;
      if (other.state != LinkState::Ready) continue;
      const auto quiet = now - other.last_activity;
      const bool asleep = other.idle && quiet >= kEvictGrace;
      const bool mute = !other.hinted && quiet >= kMuteLink;
      if (!asleep && !mute) continue;
      if (victim == nullptr || other.last_activity < oldest) {
        victim = &name;
        oldest = other.last_activity;
      }
    }
  }
  return victim;
}

void LinkManager::release(Sensor& s, const std::string& name, std::vector<LinkRequest>& out) {
  s.state = LinkState::Releasing;
  ++stats_[s.adapter].released;
  out.push_back(LinkRequest{LinkRequest::Op::Disconnect, name, s.adapter});
}

std::vector<LinkRequest> LinkManager::poll(LinkTime now) {
  std::vector<LinkRequest> out;
  // Asleep sensors' links are released after idle_disconnect.
  if (policy_.idle_disconnect.count() > 0) {
    for (auto& [name, s] : sensors_) {
      if (s.state == LinkState::Ready && s.idle && now - s.last_activity >= policy_.idle_disconnect)
        release(s, name, out);
    }
  }
  // Advertising sensors by best RSSI first.
  std::vector<std::pair<int, const std::string*>> order;
  for (const auto& [name, s] : sensors_) {
    if (!candidate(s, now)) continue;
    int rssi = -1000;
    for (const auto& [adapter, seen] : s.seen) rssi = std::max(rssi, seen.rssi);
    order.emplace_back(rssi, &name);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [rssi, name] : order) {
    auto& s = sensors_[*name];
    if (const auto adapter = best_free_adapter(s, now)) {
      s.state = LinkState::Connecting;
      s.adapter = *adapter;
      s.attempts.push_back(now);
      while (s.attempts.size() > 2) s.attempts.pop_front();
      ++s.total_attempts;
      ++stats_[*adapter].connects;
      count_link(*adapter);
      out.push_back(LinkRequest{LinkRequest::Op::Connect, *name, *adapter});
    } else if (const auto* victim = victim_for(s, now)) {
      // An advertising sensor is awake and has something to say: an asleep one makes room.
      release(sensors_[*victim], *victim, out);
    }
  }
  return out;
}

std::map<std::string, LinkManager::AdapterStats> LinkManager::adapters() const {
  auto out = stats_;
  for (auto& [adapter, st] : out) st.links = used(adapter);
  return out;
}

std::optional<LinkManager::SensorView> LinkManager::sensor(const std::string& name) const {
  const auto it = sensors_.find(name);
  if (it == sensors_.end()) return std::nullopt;
  const auto& s = it->second;
  SensorView v{s.state, s.adapter, s.idle, s.total_attempts, s.refused, std::nullopt};
  if (s.retry_at != LinkTime{}) v.retry_at = s.retry_at;
  return v;
}

}  // namespace transport::ble
