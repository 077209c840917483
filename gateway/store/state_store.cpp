#include "gateway/store/state_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <utility>

namespace gw {

namespace {

// States as stored: values of their own, so reordering SessionState never changes the file.
constexpr int kStoredActive = 1;
constexpr int kStoredAsleep = 2;
constexpr int kStoredParked = 3;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  client_id BLOB PRIMARY KEY,
  state INTEGER NOT NULL,
  clean_session INTEGER NOT NULL,
  keep_alive_s INTEGER NOT NULL,
  sleep_s INTEGER,
  will_topic BLOB,
  will_payload BLOB,
  will_qos INTEGER,
  will_retain INTEGER,
  next_topic_id INTEGER NOT NULL,
  next_msg_id INTEGER NOT NULL,
  pubrel_msg_id INTEGER,
  transport INTEGER,
  endpoint INTEGER,
  address BLOB,
  node_id BLOB,
  parked_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS registrations (
  client_id BLOB NOT NULL,
  topic_id INTEGER NOT NULL,
  name BLOB NOT NULL,
  known_by_client INTEGER NOT NULL,
  PRIMARY KEY (client_id, topic_id)
);
CREATE TABLE IF NOT EXISTS subscriptions (
  client_id BLOB NOT NULL,
  filter BLOB NOT NULL,
  qos INTEGER NOT NULL,
  PRIMARY KEY (client_id, filter)
);
CREATE TABLE IF NOT EXISTS buffered_messages (
  client_id BLOB NOT NULL,
  seq INTEGER NOT NULL,
  topic BLOB NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  msg_id INTEGER NOT NULL,
  dup INTEGER NOT NULL,
  PRIMARY KEY (client_id, seq)
);
)sql";

// ---- binding and reading columns (BLOB for every text: ClientIds and topics are untrusted bytes)

void bind_bytes(sqlite3_stmt* s, int i, const void* data, std::size_t n) {
  // A zero-length blob must not be bound as NULL (NOT NULL columns): use a valid pointer.
  static const char empty = 0;
  sqlite3_bind_blob64(s, i, n == 0 ? &empty : data, n, SQLITE_TRANSIENT);
}
void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  bind_bytes(s, i, v.data(), v.size());
}
void bind_payload(sqlite3_stmt* s, int i, const Bytes& v) {
  bind_bytes(s, i, v.data(), v.size());
}
void bind_int(sqlite3_stmt* s, int i, std::int64_t v) {
  sqlite3_bind_int64(s, i, v);
}

std::string col_text(sqlite3_stmt* s, int i) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(s, i));
  const int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
}
Bytes col_payload(sqlite3_stmt* s, int i) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
  const int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? Bytes() : Bytes(p, p + n);
}
std::int64_t col_int(sqlite3_stmt* s, int i) {
  return sqlite3_column_int64(s, i);
}
bool col_null(sqlite3_stmt* s, int i) {
  return sqlite3_column_type(s, i) == SQLITE_NULL;
}
bool in_range(std::int64_t v, std::int64_t lo, std::int64_t hi) {
  return v >= lo && v <= hi;
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

void StateStore::DbClose::operator()(sqlite3* db) const noexcept {
  sqlite3_close_v2(db);
}
void StateStore::StmtFinalize::operator()(sqlite3_stmt* s) const noexcept {
  sqlite3_finalize(s);
}

StateStore::~StateStore() = default;

std::string StateStore::fail(const char* what) const {
  return std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_.get()) : "no database");
}

std::string StateStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &msg) == SQLITE_OK) return {};
  std::string error = msg != nullptr ? msg : sqlite3_errmsg(db_.get());
  sqlite3_free(msg);
  return error;
}

std::unique_ptr<StateStore> StateStore::open(const std::string& path, std::string& error) {
  auto store = std::make_unique<StateStore>(Key{});
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  store->db_.reset(raw);  // closed by the deleter even when the open failed
  if (rc != SQLITE_OK) {
    error = store->fail("cannot open");
    return nullptr;
  }
  sqlite3_busy_timeout(raw, 2000);
  // The first statement reads the header ("file is not a database" shows here); quick_check reads
  // every page: damage is found now, not in the middle of a write later.
  {
    sqlite3_stmt* st = nullptr;
    const int prc = sqlite3_prepare_v2(raw, "PRAGMA quick_check", -1, &st, nullptr);
    Stmt check(st);
    if (prc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
      error = store->fail("integrity check");
      return nullptr;
    }
    if (std::string result = col_text(st, 0); result != "ok") {
      error = "integrity check: " + result;
      return nullptr;
    }
  }
  int version = 0;
  {
    sqlite3_stmt* st = nullptr;
    const int prc = sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, nullptr);
    Stmt v(st);
    if (prc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
      error = store->fail("schema version");
      return nullptr;
    }
    version = static_cast<int>(col_int(st, 0));
  }
  if (version > kSchemaVersion) {
    error = "schema version " + std::to_string(version) + " is newer than this gateway's (" +
            std::to_string(kSchemaVersion) + ")";
    return nullptr;
  }
  // Only now is the file changed (a refused file is moved aside exactly as it was).
  if (auto e = store->exec("PRAGMA journal_mode=WAL"); !e.empty()) {
    error = "cannot use the file: " + e;
    return nullptr;
  }
  if (auto e = store->exec("PRAGMA synchronous=NORMAL"); !e.empty()) {
    error = "cannot use the file: " + e;
    return nullptr;
  }
  const std::string init = std::string("BEGIN;") + kSchema +
                           "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";COMMIT;";
  if (auto e = store->exec(init.c_str()); !e.empty()) {
    store->exec("ROLLBACK");
    error = "cannot create the tables: " + e;
    return nullptr;
  }
  if (auto e = store->prepare_all(); !e.empty()) {
    error = e;
    return nullptr;
  }
  return store;
}

std::string StateStore::prepare_all() {
  const std::pair<Stmt*, const char*> all[] = {
      {&begin_, "BEGIN"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&del_session_, "DELETE FROM sessions WHERE client_id = ?1"},
      {&del_registrations_, "DELETE FROM registrations WHERE client_id = ?1"},
      {&del_subscriptions_, "DELETE FROM subscriptions WHERE client_id = ?1"},
      {&del_buffered_, "DELETE FROM buffered_messages WHERE client_id = ?1"},
      {&ins_session_,
       "INSERT INTO sessions (client_id, state, clean_session, keep_alive_s, sleep_s, will_topic, "
       "will_payload, will_qos, will_retain, next_topic_id, next_msg_id, pubrel_msg_id, transport, "
       "endpoint, address, node_id, parked_at_ms) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"},
      {&ins_registration_,
       "INSERT INTO registrations (client_id, topic_id, name, known_by_client) "
       "VALUES (?1, ?2, ?3, ?4)"},
      {&ins_subscription_,
       "INSERT INTO subscriptions (client_id, filter, qos) VALUES (?1, ?2, ?3)"},
      {&ins_buffered_,
       "INSERT INTO buffered_messages (client_id, seq, topic, payload, qos, retain, msg_id, dup) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
  };
  for (const auto& [slot, sql] : all) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &st, nullptr) != SQLITE_OK) return fail("prepare");
    slot->reset(st);
  }
  return {};
}

// ---------------------------------------------------------------- load

std::string StateStore::load(std::vector<StoredSession>& out) {
  std::map<std::string, StoredSession> by_id;
  auto query = [&](const char* sql, auto&& row) -> std::string {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK) return fail("read");
    Stmt st(raw);
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      if (std::string e = row(raw); !e.empty()) return e;
    }
    return rc == SQLITE_DONE ? std::string() : fail("read");
  };
  auto owner = [&](sqlite3_stmt* st, const char* table) -> std::pair<StoredSession*, std::string> {
    auto it = by_id.find(col_text(st, 0));
    if (it == by_id.end()) return {nullptr, std::string(table) + " row of no stored session"};
    return {&it->second, {}};
  };

  std::string e = query(
      "SELECT client_id, state, clean_session, keep_alive_s, sleep_s, will_topic, will_payload, "
      "will_qos, will_retain, next_topic_id, next_msg_id, pubrel_msg_id, transport, endpoint, "
      "address, node_id, parked_at_ms FROM sessions",
      [&](sqlite3_stmt* st) -> std::string {
        StoredSession s;
        SessionSnapshot& n = s.snapshot;
        n.client_id = col_text(st, 0);
        switch (col_int(st, 1)) {
          case kStoredActive:
            n.state = SessionState::Active;
            break;
          case kStoredAsleep:
            n.state = SessionState::Asleep;
            break;
          case kStoredParked:
            n.state = SessionState::Disconnected;
            break;
          default:
            return "sessions: unknown state " + std::to_string(col_int(st, 1));
        }
        n.clean_session = col_int(st, 2) != 0;
        if (!in_range(col_int(st, 3), 0, 65535)) return "sessions: keep_alive_s out of range";
        n.keep_alive_s = static_cast<std::uint16_t>(col_int(st, 3));
        if (!col_null(st, 4)) {
          if (!in_range(col_int(st, 4), 0, 65535)) return "sessions: sleep_s out of range";
          n.sleep_s = static_cast<std::uint16_t>(col_int(st, 4));
        }
        if (!col_null(st, 5)) {
          if (!in_range(col_int(st, 7), 0, 2)) return "sessions: will_qos out of range";
          n.will = Will{col_text(st, 5), col_payload(st, 6), static_cast<int>(col_int(st, 7)),
                        col_int(st, 8) != 0};
        }
        if (!in_range(col_int(st, 9), 0, 65535) || !in_range(col_int(st, 10), 0, 65535))
          return "sessions: next id out of range";
        n.next_topic_id = static_cast<std::uint16_t>(col_int(st, 9));
        n.next_msg_id = static_cast<std::uint16_t>(col_int(st, 10));
        if (!col_null(st, 11)) {
          if (!in_range(col_int(st, 11), 1, 65535)) return "sessions: pubrel_msg_id out of range";
          n.pubrel_msg_id = static_cast<std::uint16_t>(col_int(st, 11));
        }
        if (!col_null(st, 12)) {
          transport::PeerAddress p;
          if (!in_range(col_int(st, 12), 0, 1) || !in_range(col_int(st, 13), 0, 255))
            return "sessions: transport out of range";
          p.kind = static_cast<transport::Kind>(col_int(st, 12));
          p.endpoint = static_cast<std::uint8_t>(col_int(st, 13));
          const Bytes raw = col_payload(st, 14);
          if (raw.size() > p.raw.size()) return "sessions: address too long";
          std::copy(raw.begin(), raw.end(), p.raw.begin());
          p.size = static_cast<std::uint8_t>(raw.size());
          s.peer = p;
        }
        s.node_id = col_text(st, 15);
        s.parked_at_unix_ms = col_int(st, 16);
        by_id.emplace(n.client_id, std::move(s));
        return {};
      });
  if (!e.empty()) return e;
  e = query(
      "SELECT client_id, topic_id, name, known_by_client FROM registrations "
      "ORDER BY client_id, topic_id",
      [&](sqlite3_stmt* st) -> std::string {
        auto [s, err] = owner(st, "registrations");
        if (s == nullptr) return err;
        if (!in_range(col_int(st, 1), 1, 65534)) return "registrations: topic id out of range";
        s->snapshot.topics.push_back(
            {static_cast<std::uint16_t>(col_int(st, 1)), col_text(st, 2), col_int(st, 3) != 0});
        return {};
      });
  if (!e.empty()) return e;
  e = query(
      "SELECT client_id, filter, qos FROM subscriptions ORDER BY client_id, filter",
      [&](sqlite3_stmt* st) -> std::string {
        auto [s, err] = owner(st, "subscriptions");
        if (s == nullptr) return err;
        if (!in_range(col_int(st, 2), 0, 2)) return "subscriptions: qos out of range";
        s->snapshot.subscriptions.push_back({col_text(st, 1), static_cast<int>(col_int(st, 2))});
        return {};
      });
  if (!e.empty()) return e;
  e = query(
      "SELECT client_id, topic, payload, qos, retain, msg_id, dup FROM buffered_messages "
      "ORDER BY client_id, seq",
      [&](sqlite3_stmt* st) -> std::string {
        auto [s, err] = owner(st, "buffered_messages");
        if (s == nullptr) return err;
        if (!in_range(col_int(st, 3), 1, 2) || !in_range(col_int(st, 5), 0, 65535))
          return "buffered_messages: qos or msg_id out of range";
        s->snapshot.buffered.push_back(Outgoing{
            col_text(st, 1), col_payload(st, 2), static_cast<int>(col_int(st, 3)),
            col_int(st, 4) != 0, static_cast<std::uint16_t>(col_int(st, 5)), col_int(st, 6) != 0});
        return {};
      });
  if (!e.empty()) return e;
  out.clear();
  out.reserve(by_id.size());
  for (auto& [id, s] : by_id) out.push_back(std::move(s));
  return {};
}

// ---------------------------------------------------------------- write

std::string StateStore::remove(const std::string& client_id) {
  for (Stmt* st : {&del_session_, &del_registrations_, &del_subscriptions_, &del_buffered_}) {
    sqlite3_stmt* s = st->get();
    sqlite3_reset(s);
    bind_text(s, 1, client_id);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("delete");
  }
  return {};
}

std::string StateStore::put(const StoredSession& stored) {
  const SessionSnapshot& n = stored.snapshot;
  if (std::string e = remove(n.client_id); !e.empty()) return e;
  auto done = [&](sqlite3_stmt* s) -> std::string {
    return sqlite3_step(s) == SQLITE_DONE ? std::string() : fail("insert");
  };
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
  if (std::string e = done(s); !e.empty()) return e;

  for (const auto& r : n.topics) {
    s = ins_registration_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_int(s, 2, r.id);
    bind_text(s, 3, r.name);
    bind_int(s, 4, r.known_by_client ? 1 : 0);
    if (std::string e = done(s); !e.empty()) return e;
  }
  for (const auto& sub : n.subscriptions) {
    s = ins_subscription_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_text(s, 2, sub.filter);
    bind_int(s, 3, sub.qos);
    if (std::string e = done(s); !e.empty()) return e;
  }
  std::int64_t seq = 0;
  for (const auto& m : n.buffered) {
    s = ins_buffered_.get();
    sqlite3_reset(s);
    bind_text(s, 1, n.client_id);
    bind_int(s, 2, seq++);
    bind_text(s, 3, m.topic);
    bind_payload(s, 4, m.payload);
    bind_int(s, 5, m.qos);
    bind_int(s, 6, m.retain ? 1 : 0);
    bind_int(s, 7, m.msg_id);
    bind_int(s, 8, m.dup ? 1 : 0);
    if (std::string e = done(s); !e.empty()) return e;
  }
  return {};
}

Status StateStore::write(std::span<const StoredSession> puts,
                         std::span<const std::string> removes) {
  auto step = [&](Stmt& st) {
    sqlite3_reset(st.get());
    return sqlite3_step(st.get()) == SQLITE_DONE;
  };
  if (!step(begin_)) return Error{fail("begin")};
  std::string e;
  for (const auto& id : removes)
    if (e.empty()) e = remove(id);
  for (const auto& s : puts)
    if (e.empty()) e = put(s);
  if (e.empty() && !step(commit_)) e = fail("commit");
  if (e.empty()) return {};
  step(rollback_);
  return Error{e};
}

// ---------------------------------------------------------------- open with recovery

Result<OpenedStore> open_state_store(const std::string& path) {
  OpenedStore r;
  std::string problem;
  if (auto store = StateStore::open(path, problem)) {
    problem = store->load(r.sessions);
    if (problem.empty()) {
      r.store = std::move(store);
      return r;
    }
    r.sessions.clear();
  }
  // Unusable: keep it for inspection, never delete what may still be rescued by hand.
  r.problem = problem;
  r.moved_aside = path + ".damaged-" + utc_stamp();
  bool moved = false;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string from = path + suffix;
    const std::string to = r.moved_aside + suffix;
    if (std::rename(from.c_str(), to.c_str()) == 0) {
      moved = moved || *suffix == '\0';
    } else if (errno != ENOENT) {
      return Error{"cannot move the unusable state file " + from +
                   " aside: " + std::strerror(errno) + " (" + r.problem + ")"};
    }
  }
  if (!moved) r.moved_aside.clear();  // nothing was there to move (e.g. the directory is missing)
  std::string error;
  r.store = StateStore::open(path, error);
  if (!r.store)
    return Error{"cannot create the state file " + path + ": " + error +
                 (r.problem.empty() ? std::string() : " (" + r.problem + ")")};
  return r;
}

}  // namespace gw
