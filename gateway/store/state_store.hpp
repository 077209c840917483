// The gateway's state directory: sensor sessions kept across restarts in SQLite (WAL journal,
// synchronous=NORMAL: a killed gateway loses nothing committed; an OS crash or power cut may lose
// the last transactions). Relational tables keyed by ClientId; no I/O happens elsewhere.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/session_snapshot.hpp"
#include "transports/peer_address.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace gw {

// One stored sensor: its session, where it was reached, and (parked sessions) when it was parked.
struct StoredSession {
  SessionSnapshot snapshot;
  std::optional<transport::PeerAddress> peer;
  std::string node_id;  // forwarder's wireless node id; empty: not encapsulated
  std::int64_t parked_at_unix_ms = 0;
};

class StateStore {
  struct Key {};  // only open() constructs a store

 public:
  // The schema this build writes; a file with a higher user_version is refused.
  static constexpr int kSchemaVersion = 1;

  // Opens (creating it if needed) the store at `path`; nullptr and `error` when the file is not a
  // usable store of this schema (damaged, not SQLite, newer schema, unreadable).
  static std::unique_ptr<StateStore> open(const std::string& path, std::string& error);
  explicit StateStore(Key) {}
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Every stored sensor; empty text on success.
  std::string load(std::vector<StoredSession>& out);
  // One transaction: `puts` replace their ClientIds' rows, `removes` delete theirs.
  Status write(std::span<const StoredSession> puts, std::span<const std::string> removes);

 private:
  struct DbClose {
    void operator()(sqlite3* db) const noexcept;
  };
  struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const noexcept;
  };
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

  std::string prepare_all();
  std::string put(const StoredSession& s);
  std::string remove(const std::string& client_id);
  std::string exec(const char* sql);
  std::string fail(const char* what) const;

  std::unique_ptr<sqlite3, DbClose> db_;  // declared first: closed after the statements
  Stmt begin_, commit_, rollback_;
  Stmt del_session_, del_registrations_, del_subscriptions_, del_buffered_;
  Stmt ins_session_, ins_registration_, ins_subscription_, ins_buffered_;
};

// The store at `path` and what it holds. A damaged or newer-schema file is renamed to
// "<path>.damaged-<UTC time>" (with its -wal/-shm files) and an empty store is started instead;
// `moved_aside` then names the renamed file and `problem` says what was wrong. An error only
// when no usable store could be opened at all.
struct OpenedStore {
  std::unique_ptr<StateStore> store;
  std::vector<StoredSession> sessions;
  std::string problem;
  std::string moved_aside;
};
Result<OpenedStore> open_state_store(const std::string& path);

}  // namespace gw
