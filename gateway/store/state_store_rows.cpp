// StateStore::put by row: only the registrations, subscriptions and buffered messages that changed
// since the last write of a ClientId are inserted or deleted (state_store.hpp, Written).
#include <sqlite3.h>

#include <functional>
#include <string>
#include <utility>

#include "gateway/store/state_store.hpp"
#include "gateway/store/state_store_bind.hpp"

namespace gw {

using namespace store_bind;

namespace {

std::size_t row_hash(const TopicRegistration& r) {
  return std::hash<std::string>{}(r.name) ^ (r.known_by_client ? 0x9e3779b97f4a7c15ULL : 0);
}

std::size_t row_hash(const Outgoing& m) {
  std::size_t h = std::hash<std::string>{}(m.topic);
  h ^= std::hash<std::string_view>{}(
           std::string_view(reinterpret_cast<const char*>(m.payload.data()), m.payload.size())) +
       0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  const std::size_t flags = static_cast<std::size_t>(m.qos) | (m.retain ? 4u : 0u) |
                            (m.dup ? 8u : 0u) | (std::size_t{m.msg_id} << 4);
  return h ^ (flags + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

}  // namespace

std::string StateStore::put(const StoredSession& stored) {
  const SessionSnapshot& n = stored.snapshot;
  touched_.push_back(n.client_id);
  auto it = written_.find(n.client_id);
  if (it == written_.end()) {
    // Nothing known of what the file holds for it: clear its rows, then write every one.
    if (std::string e = remove(n.client_id); !e.empty()) return e;
    it = written_.emplace(n.client_id, Written{}).first;
  }
  Written& w = it->second;
  if (std::string e = put_session_row(stored); !e.empty()) return e;
  if (std::string e = put_registrations(n, w); !e.empty()) return e;
  if (std::string e = put_subscriptions(n, w); !e.empty()) return e;
  return put_buffered(n, w);
}

std::string StateStore::put_session_row(const StoredSession& stored) {
  const SessionSnapshot& n = stored.snapshot;
  sqlite3_stmt* s = ins_session_.get();
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  bind_text(s, 1, n.client_id);
  bind_int(s, 2,
           n.state == SessionState::Disconnected                               ? kStoredParked
           : n.state == SessionState::Asleep || n.state == SessionState::Awake ? kStoredAsleep
                                                                               : kStoredActive);
  bind_int(s, 3, n.clean_session ? 1 : 0);
  bind_int(s, 4, n.keep_alive_s);
  if (n.sleep_s) bind_int(s, 5, *n.sleep_s);
  if (n.will) {
    bind_text(s, 6, n.will->topic);
    bind_payload(s, 7, n.will->payload);
    bind_int(s, 8, n.will->qos);
    bind_int(s, 9, n.will->retain ? 1 : 0);
  }
  bind_int(s, 10, n.next_topic_id);
  bind_int(s, 11, n.next_msg_id);
  if (n.pubrel_msg_id) bind_int(s, 12, *n.pubrel_msg_id);
  if (stored.peer) {
    bind_int(s, 13, static_cast<int>(stored.peer->kind));
    bind_int(s, 14, stored.peer->endpoint);
    bind_bytes(s, 15, stored.peer->raw.data(),
               std::min<std::size_t>(stored.peer->size, stored.peer->raw.size()));
  }
  bind_text(s, 16, stored.node_id);
  bind_int(s, 17, stored.parked_at_unix_ms);
  return sqlite3_step(s) == SQLITE_DONE ? std::string() : fail("insert");
}

std::string StateStore::put_registrations(const SessionSnapshot& n, Written& w) {
  std::unordered_map<std::uint16_t, std::size_t> now;
  now.reserve(n.topics.size());
  for (const auto& r : n.topics) {
    const std::size_t h = row_hash(r);
    now.emplace(r.id, h);
    if (auto old = w.registrations.find(r.id); old != w.registrations.end() && old->second == h)
      continue;
    sqlite3_stmt* s = ins_registration_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_int(s, 2, r.id);
    bind_text(s, 3, r.name);
    bind_int(s, 4, r.known_by_client ? 1 : 0);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("insert");
  }
  for (const auto& [id, h] : w.registrations) {
    if (now.contains(id)) continue;
    sqlite3_stmt* s = del_registration_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_int(s, 2, id);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("delete");
  }
  w.registrations = std::move(now);
  return {};
}

std::string StateStore::put_subscriptions(const SessionSnapshot& n, Written& w) {
  std::map<std::string, int> now;
  for (const auto& sub : n.subscriptions) {
    now.emplace(sub.filter, sub.qos);
    if (auto old = w.subscriptions.find(sub.filter);
        old != w.subscriptions.end() && old->second == sub.qos)
      continue;
    sqlite3_stmt* s = ins_subscription_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_text(s, 2, sub.filter);
    bind_int(s, 3, sub.qos);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("insert");
  }
  for (const auto& [filter, qos] : w.subscriptions) {
    if (now.contains(filter)) continue;
    sqlite3_stmt* s = del_subscription_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_text(s, 2, filter);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("delete");
  }
  w.subscriptions = std::move(now);
  return {};
}

std::string StateStore::put_buffered(const SessionSnapshot& n, Written& w) {
  // A buffer changes at its ends: messages leave at the front and arrive at the back. Find how
  // many left (the written rows from `gone` on are the start of the new buffer), delete those,
  // append the new ones; anything else rewrites the buffer.
  std::vector<std::size_t> now;
  now.reserve(n.buffered.size());
  for (const auto& m : n.buffered) now.push_back(row_hash(m));
  std::size_t gone = 0;
  bool aligned = false;
  for (; gone <= w.buffered.size(); ++gone) {
    const std::size_t kept = w.buffered.size() - gone;
    if (kept > now.size()) continue;
    if (std::equal(w.buffered.begin() + static_cast<std::ptrdiff_t>(gone), w.buffered.end(),
                   now.begin())) {
      aligned = true;
      break;
    }
  }
  std::size_t keep = 0;
  if (aligned) {
    if (gone > 0) {
      sqlite3_stmt* s = del_buffered_before_.get();
      sqlite3_reset(s);
      bind_text(s, 1, n.client_id);
      bind_int(s, 2, w.first_seq + static_cast<std::int64_t>(gone));
      if (sqlite3_step(s) != SQLITE_DONE) return fail("delete");
      w.first_seq += static_cast<std::int64_t>(gone);
      w.buffered.erase(w.buffered.begin(), w.buffered.begin() + static_cast<std::ptrdiff_t>(gone));
    }
    keep = w.buffered.size();
  } else {
    sqlite3_stmt* s = del_buffered_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("delete");
    w.buffered.clear();
    w.first_seq = 0;
  }
  for (std::size_t i = keep; i < n.buffered.size(); ++i) {
    const Outgoing& m = n.buffered[i];
    sqlite3_stmt* s = ins_buffered_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_int(s, 2, w.first_seq + static_cast<std::int64_t>(i));
    bind_text(s, 3, m.topic);
    bind_payload(s, 4, m.payload);
    bind_int(s, 5, m.qos);
    bind_int(s, 6, m.retain ? 1 : 0);
    bind_int(s, 7, m.msg_id);
    bind_int(s, 8, m.dup ? 1 : 0);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("insert");
    w.buffered.push_back(now[i]);
  }
  return {};
}

}  // namespace gw
