// Binding values to SQLite statements for the state store (state_store.cpp,
// state_store_rows.cpp): BLOB for every text, since ClientIds and topics are untrusted bytes.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "gateway/core/session_types.hpp"

namespace gw::store_bind {

// States as stored: values of their own, so reordering SessionState never changes the file.
constexpr int kStoredActive = 1;
constexpr int kStoredAsleep = 2;
constexpr int kStoredParked = 3;

inline void bind_bytes(sqlite3_stmt* s, int i, const void* data, std::size_t n) {
  // A zero-length blob must not be bound as NULL (NOT NULL columns): use a valid pointer.
  static const char empty = 0;
  sqlite3_bind_blob64(s, i, n == 0 ? &empty : data, n, SQLITE_TRANSIENT);
}
inline void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  bind_bytes(s, i, v.data(), v.size());
}
inline void bind_payload(sqlite3_stmt* s, int i, const Bytes& v) {
  bind_bytes(s, i, v.data(), v.size());
}
inline void bind_int(sqlite3_stmt* s, int i, std::int64_t v) {
  sqlite3_bind_int64(s, i, v);
}

}  // namespace gw::store_bind
