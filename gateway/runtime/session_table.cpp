#include "gateway/runtime/session_table.hpp"

namespace gw {

SessionTable::Entry* SessionTable::find(std::uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

SessionTable::Entry* SessionTable::find_by_address(const SensorAddress& a) const {
  auto it = by_address_.find(a);
  return it == by_address_.end() ? nullptr : find(it->second);
}

SessionTable::Entry* SessionTable::find_by_client_id(const std::string& client_id) const {
  auto it = by_client_id_.find(client_id);
  return it == by_client_id_.end() ? nullptr : find(it->second);
}

SessionTable::Entry& SessionTable::add(std::unique_ptr<Entry> entry) {
  Entry& e = *entry;
  by_client_id_[e.client_id] = e.id;
  sessions_.emplace(e.id, std::move(entry));
  return e;
}

SessionTable::Entry* SessionTable::bind(Entry& e, const SensorAddress& to) {
  unbind(e);
  Entry* loser = nullptr;
  if (auto it = by_address_.find(to); it != by_address_.end() && it->second != e.id) {
    if ((loser = find(it->second)) != nullptr) loser->address.reset();
  }
  by_address_[to] = e.id;
  e.address = to;
  return loser;
}

void SessionTable::unbind(Entry& e) {
  if (!e.address) return;
  if (auto it = by_address_.find(*e.address); it != by_address_.end() && it->second == e.id)
    by_address_.erase(it);
  e.address.reset();
}

void SessionTable::forget_client_id(const Entry& e) {
  if (auto it = by_client_id_.find(e.client_id); it != by_client_id_.end() && it->second == e.id)
    by_client_id_.erase(it);
}

std::unique_ptr<SessionTable::Entry> SessionTable::take(std::uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return nullptr;
  std::unique_ptr<Entry> entry = std::move(it->second);
  sessions_.erase(it);
  return entry;
}

void SessionTable::clear_live() {
  sessions_.clear();
  by_address_.clear();
  by_client_id_.clear();
}

void SessionTable::park(std::unique_ptr<Entry> entry, TimePoint now) {
  entry->parked_at = now;
  parked_order_.emplace(std::make_pair(now, entry->id), entry->client_id);
  std::string client_id = entry->client_id;
  parked_.emplace(std::move(client_id), std::move(entry));
}

std::unique_ptr<SessionTable::Entry> SessionTable::unpark(const std::string& client_id) {
  auto it = parked_.find(client_id);
  if (it == parked_.end()) return nullptr;
  std::unique_ptr<Entry> entry = std::move(it->second);
  parked_.erase(it);
  parked_order_.erase(std::make_pair(entry->parked_at, entry->id));
  return entry;
}

std::optional<std::pair<TimePoint, std::string>> SessionTable::oldest_parked() const {
  if (parked_order_.empty()) return std::nullopt;
  return std::make_pair(parked_order_.begin()->first.first, parked_order_.begin()->second);
}

std::string SessionTable::drop_oldest_parked() {
  if (parked_order_.empty()) return {};
  std::string client_id = parked_order_.begin()->second;
  parked_.erase(client_id);
  parked_order_.erase(parked_order_.begin());
  return client_id;
}

}  // namespace gw
