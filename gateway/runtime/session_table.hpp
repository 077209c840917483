// The live sensor sessions and their indexes (by id, by address, by ClientId), plus the parked
// ones: CleanSession=false sessions that ended with a clean DISCONNECT, kept by ClientId until
// their next CONNECT resumes them (§6.3) or they expire. Only bookkeeping: the policies (who is
// taken over, when a parked one expires) are the runtime's. Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "gateway/core/session.hpp"
#include "gateway/runtime/sensor_address.hpp"
#include "gateway/upstream/upstream.hpp"

namespace gw {

struct SessionEntry {
  std::uint64_t id = 0;
  Session session;
  std::string client_id;
  std::optional<SensorAddress> address;  // nullopt: its address was taken by another sensor
  std::unique_ptr<Upstream> upstream;
  std::optional<TimePoint> scheduled;  // the deadline in the queue for it
  TimePoint parked_at{};               // when it was parked (parked entries only)
  TimePoint last_seen{};               // its last datagram (the loop's `now`: no extra clock read)
  std::uint64_t stored_revision = 0;   // the session revision last noted for the store
  std::optional<bool> peer_idle;  // last hint given to its transport (Transport::set_peer_idle)
  SessionEntry(std::uint64_t i, SessionConfig c, TimePoint now)
      : id(i), session(std::move(c), now) {}
};

class SessionTable {
 public:
  using Entry = SessionEntry;
  using Live = std::unordered_map<std::uint64_t, std::unique_ptr<Entry>>;
  using Parked = std::unordered_map<std::string, std::unique_ptr<Entry>>;

  // A fresh id (0 is the shared gateway client): a resumed session gets a new one too, so events
  // for its old upstream client cannot reach it.
  std::uint64_t new_id() noexcept { return next_id_++; }

  Entry* find(std::uint64_t id) const;
  Entry* find_by_address(const SensorAddress& a) const;
  Entry* find_by_client_id(const std::string& client_id) const;
  bool has_client_id(const std::string& client_id) const {
    return by_client_id_.contains(client_id);
  }

  // Adds a live session under its ClientId (not yet bound to an address).
  Entry& add(std::unique_ptr<Entry> entry);
  // Gives `to` to `e`. Returns the session that had that address and lost it (nullptr if none).
  Entry* bind(Entry& e, const SensorAddress& to);
  void unbind(Entry& e);
  // Drops `e`'s ClientId index entry (if it is still `e`'s).
  void forget_client_id(const Entry& e);
  // Takes a live session out of the table (its indexes must be dropped already).
  std::unique_ptr<Entry> take(std::uint64_t id);
  // Every live session and index gone (stop).
  void clear_live();

  const Live& live() const noexcept { return sessions_; }
  std::size_t size() const noexcept { return sessions_.size(); }

  // Parked sessions.
  void park(std::unique_ptr<Entry> entry, TimePoint now);
  std::unique_ptr<Entry> unpark(const std::string& client_id);
  // The ClientId of the oldest parked session and when it was parked.
  std::optional<std::pair<TimePoint, std::string>> oldest_parked() const;
  // Drops the oldest parked session; returns its ClientId.
  std::string drop_oldest_parked();
  const Parked& parked() const noexcept { return parked_; }

 private:
  std::uint64_t next_id_ = 1;
  Live sessions_;
  std::unordered_map<SensorAddress, std::uint64_t, SensorAddressHash> by_address_;
  std::unordered_map<std::string, std::uint64_t> by_client_id_;
  Parked parked_;
  // The parked ones oldest first: (parked_at, old session id) -> ClientId.
  std::map<std::pair<TimePoint, std::uint64_t>, std::string> parked_order_;
};

}  // namespace gw
