// Broker messages waiting to go to one client, in order (docs/design.md Delivery; §6.14 buffering).
// Bounded by messages and bytes per client and, through a shared BufferBudget, in total over all
// clients: when over a cap, the oldest QoS 0 message is dropped first, else the oldest message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/core/buffer_budget.hpp"
#include "gateway/core/session_types.hpp"

namespace gw {

struct Outgoing {
  std::string topic;
  Bytes payload;
  int qos = 0;  // already min(subscription, message)
  bool retain = false;
  // Set when a PUBLISH was sent once and must be sent again (after sleep or reconnect).
  std::uint16_t msg_id = 0;
  bool dup = false;
  friend bool operator==(const Outgoing&, const Outgoing&) = default;
};

// What a buffered message costs against the byte caps: its topic and payload.
inline std::size_t buffered_size(const Outgoing& m) noexcept {
  return m.topic.size() + m.payload.size();
}

class Outbox {
 public:
  struct Dropped {
    Outgoing message;
    DropReason reason;
  };

  // capacity: messages; max_bytes: bytes, 0 = no limit; budget: the shared totals, may be null.
  explicit Outbox(std::size_t capacity, std::size_t max_bytes = 0,
                  std::shared_ptr<BufferBudget> budget = {});
  ~Outbox();
  Outbox(Outbox&& other) noexcept;
  Outbox& operator=(Outbox&& other) noexcept;
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Appends; if that is over a cap, returns the messages dropped to get under it (usually none
  // or one). A message bigger than a byte cap on its own is dropped, and nothing else.
  std::vector<Dropped> push_back(Outgoing m);
  // Puts a message back at the head (it was in flight); never drops.
  void push_front(Outgoing m);
  Outgoing pop_front();
  const Outgoing& front() const { return queue_.front(); }
  bool empty() const noexcept { return queue_.empty(); }
  std::size_t size() const noexcept { return queue_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  // Drops every message on `topic`; returns how many.
  std::size_t erase_topic(const std::string& topic);
  void clear();
  const std::list<Outgoing>& items() const noexcept { return queue_; }

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  void charge(const Outgoing& m) noexcept;
  void release(const Outgoing& m) noexcept;
  std::optional<DropReason> over() const noexcept;
  void count(DropReason r) noexcept;

  // A list, not a deque: an empty std::deque already allocates about 600 bytes, and most sensors'
  // outboxes are empty most of the time (under 2 KB per sensor in aggregating mode).
  std::list<Outgoing> queue_;
  std::size_t capacity_;
  std::size_t max_bytes_;
  std::shared_ptr<BufferBudget> budget_;
  std::size_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace gw
