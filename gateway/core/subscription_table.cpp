#include "gateway/core/subscription_table.hpp"

#include <algorithm>

#include "mqttsn/topic.hpp"

namespace gw {

int SubscriptionTable::add(Holder holder, const std::string& filter, int qos) {
  auto [it, fresh] = filters_.try_emplace(filter);
  Filter& f = it->second;
  if (fresh && mqttsn::has_wildcard(filter)) wildcards_.insert(filter);
  f.holders[holder] = Ref{qos, TimePoint::max()};
  f.upstream_qos = std::max(f.upstream_qos, qos);
  by_holder_[holder].insert(filter);
  return f.upstream_qos;
}

void SubscriptionTable::acked(Holder holder, const std::string& filter, TimePoint now) {
  auto it = filters_.find(filter);
  if (it == filters_.end()) return;
  auto h = it->second.holders.find(holder);
  if (h != it->second.holders.end()) h->second.recent_until = now + kRetainedWindow;
}

void SubscriptionTable::refresh_all(TimePoint now) {
  for (auto& [name, f] : filters_)
    for (auto& [holder, ref] : f.holders) ref.recent_until = now + kRetainedWindow;
}

bool SubscriptionTable::remove(Holder holder, const std::string& filter) {
  auto it = filters_.find(filter);
  if (it == filters_.end()) return false;
  if (it->second.holders.erase(holder) == 0) return false;
  if (auto h = by_holder_.find(holder); h != by_holder_.end()) {
    h->second.erase(filter);
    if (h->second.empty()) by_holder_.erase(h);
  }
  if (!it->second.holders.empty()) return false;
  wildcards_.erase(filter);
  filters_.erase(it);
  return true;
}

std::vector<std::string> SubscriptionTable::remove_holder(Holder holder) {
  std::vector<std::string> gone;
  auto h = by_holder_.find(holder);
  if (h == by_holder_.end()) return gone;
  const std::set<std::string> held = std::move(h->second);
  by_holder_.erase(h);
  for (const auto& filter : held) {
    auto it = filters_.find(filter);
    if (it == filters_.end()) continue;
    it->second.holders.erase(holder);
    if (!it->second.holders.empty()) continue;
    wildcards_.erase(filter);
    filters_.erase(it);
    gone.push_back(filter);
  }
  return gone;
}

void SubscriptionTable::move_holder(Holder from, Holder to) {
  auto h = by_holder_.find(from);
  if (h == by_holder_.end() || from == to) return;
  std::set<std::string> held = std::move(h->second);
  by_holder_.erase(h);
  for (const auto& filter : held) {
    auto it = filters_.find(filter);
    if (it == filters_.end()) continue;
    auto ref = it->second.holders.extract(from);
    if (ref.empty()) continue;
    ref.key() = to;
    it->second.holders.insert(std::move(ref));
  }
  by_holder_[to].merge(held);
}

void SubscriptionTable::collect(const Filter& f, bool retained, TimePoint now,
                                std::vector<Holder>& out) const {
  for (const auto& [holder, ref] : f.holders)
    if (!retained || now < ref.recent_until) out.push_back(holder);
}

std::vector<SubscriptionTable::Holder> SubscriptionTable::match(const std::string& topic,
                                                                bool retained,
                                                                TimePoint now) const {
  std::vector<Holder> out;
  if (auto it = filters_.find(topic); it != filters_.end() && !mqttsn::has_wildcard(topic))
    collect(it->second, retained, now, out);
  for (const auto& filter : wildcards_)
    if (mqttsn::topic_matches(filter, topic)) collect(filters_.at(filter), retained, now, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::pair<std::string, int>> SubscriptionTable::filters() const {
  std::vector<std::pair<std::string, int>> out;
  out.reserve(filters_.size());
  for (const auto& [name, f] : filters_) out.emplace_back(name, f.upstream_qos);
  std::sort(out.begin(), out.end());
  return out;
}

bool SubscriptionTable::holds(Holder holder, const std::string& filter) const {
  auto it = filters_.find(filter);
  return it != filters_.end() && it->second.holders.count(holder) != 0;
}

std::size_t SubscriptionTable::holder_count(const std::string& filter) const {
  auto it = filters_.find(filter);
  return it == filters_.end() ? 0 : it->second.holders.size();
}

}  // namespace gw
