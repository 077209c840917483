// Runtime, persistence: sessions kept in the state store across restarts. Only sessions whose
// revision moved are written, all of them in one transaction per loop iteration (a uv_check_t runs
// after the iteration's I/O callbacks), so a burst of packets costs one commit, and uplink PUBLISH
// none.
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "gateway/runtime/runtime.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

namespace {

constexpr auto kStoreRetry = std::chrono::seconds(1);

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

Status Runtime::open_store() {
  if (options_.state_path.empty()) return {};
  auto result = open_state_store(options_.state_path);
  if (!result) return Error{"state.path: " + result.error()};
  OpenedStore& opened = result.value();
  if (!opened.problem.empty())
    spdlog::error("state file {} is unusable ({}); {}; starting with no stored sessions",
                  options_.state_path, opened.problem,
                  opened.moved_aside.empty() ? std::string("nothing to move aside")
                                             : "moved aside to " + opened.moved_aside);
  store_ = std::move(opened.store);
  if (options_.state_max_bytes != 0)
    if (Status s = store_->limit_size(options_.state_max_bytes); !s)
      return Error{"state.max_bytes: " + s.error()};
  restore(std::move(opened.sessions));
  store_check_.start();
  return {};
}

void Runtime::restore(std::vector<StoredSession> stored) {
  const auto now = now_();
  const auto wall_now = std::chrono::system_clock::now();
  std::size_t live = 0, asleep = 0, parked = 0, buffered = 0;
  for (StoredSession& s : stored) {
    const std::string id = s.snapshot.client_id;
    if (id.empty() || table_.has_client_id(id) || table_.parked().contains(id)) continue;
    auto entry = std::make_unique<Entry>(table_.new_id(), options_.session, now);
    entry->client_id = id;
    Actions actions = entry->session.restore(s.snapshot, now);
    entry->stored_revision = entry->session.revision();
    buffered += entry->session.buffered();
    if (s.snapshot.state == SessionState::Disconnected) {
      // Its expiry goes on from when it was parked (wall clock: the steady clock restarted).
      const auto age = std::max(std::chrono::milliseconds(0),
                                std::chrono::milliseconds(unix_ms(wall_now) - s.parked_at_unix_ms));
      park(std::move(entry), now - age);
      if (auto p = table_.parked().find(id); p != table_.parked().end()) {
        changed_.erase(id);  // stored as it is
        ++parked;
        hold_restored(*p->second, s.snapshot, true);
      }
      continue;
    }
    Entry& e = table_.add(std::move(entry));
    if (s.peer) bind(e, SensorAddress{*s.peer, s.node_id});
    ++live;
    if (e.session.state() == SessionState::Asleep) ++asleep;
    hold_restored(e, s.snapshot, false);
    carry_out(e, std::move(actions), now);
  }
  spdlog::info("restored {} sessions ({} asleep, {} parked, {} buffered messages) from {}",
               live + parked, asleep, parked, buffered, options_.state_path);
}

void Runtime::note_changed(Entry& e) {
  if (!store_ || e.session.revision() == e.stored_revision) return;
  e.stored_revision = e.session.revision();
  if (!e.client_id.empty()) changed_.insert(e.client_id);
}

void Runtime::note_changed(const std::string& client_id) {
  if (store_ && !client_id.empty()) changed_.insert(client_id);
}

void Runtime::flush_store() {
  if (!store_ || changed_.empty()) return;
  // After a failed write (disk full), wait a moment: every loop iteration would fail again.
  if (!stopping_ && now_() < store_retry_at_) return;
  std::vector<StoredSession> puts;
  std::vector<std::string> removes;
  const auto now = now_();
  const auto wall_now = std::chrono::system_clock::now();
  for (const std::string& id : changed_) {
    const Entry* e = table_.find_by_client_id(id);
    bool is_parked = false;
    if (e == nullptr) {
      if (auto p = table_.parked().find(id); p != table_.parked().end()) {
        e = p->second.get();
        is_parked = true;
      }
    }
    if (e == nullptr) {
      removes.push_back(id);
      continue;
    }
    const SessionState state = e->session.state();
    // Connecting: what was stored stays until the CONNECT completes (it is rewritten then).
    if (state == SessionState::Connecting) continue;
    if (state == SessionState::Lost || (state == SessionState::Disconnected && !is_parked)) {
      removes.push_back(id);
      continue;
    }
    StoredSession s;
    s.snapshot = e->session.snapshot();
    if (e->address) {
      s.peer = e->address->peer;
      s.node_id = e->address->node_id;
    }
    if (is_parked)
      s.parked_at_unix_ms =
          unix_ms(wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                 now - e->parked_at));
    puts.push_back(std::move(s));
  }
  std::unordered_set<std::string> written = std::move(changed_);
  changed_.clear();
  ++counters_.store_writes;
  if (Status s = store_->write(puts, removes); !s) {
    // Kept going: the sessions live on in memory; what this write held is written again later.
    changed_.merge(written);
    store_retry_at_ = now + kStoreRetry;
    ++counters_.store_errors;
    util::log_limited("state file write", spdlog::level::err,
                      "state file {}: write of {} sessions failed: {} ({} failures so far)",
                      options_.state_path, puts.size() + removes.size(), s.error(),
                      counters_.store_errors);
  }
}

}  // namespace gw
