// Broker messages waiting to go to one client, in order (design.md Delivery; §6.14 buffering).
// Bounded: when full, the oldest QoS 0 message is dropped first, else the oldest message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

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

class Outbox {
 public:
  explicit Outbox(std::size_t capacity) : capacity_(capacity) {}

  // Appends; if that overflows, returns the message dropped to make room.
  std::optional<Outgoing> push_back(Outgoing m);
  // Puts a message back at the head (it was in flight); never drops.
  void push_front(Outgoing m) { queue_.push_front(std::move(m)); }
  Outgoing pop_front();
  const Outgoing& front() const { return queue_.front(); }
  bool empty() const noexcept { return queue_.empty(); }
  std::size_t size() const noexcept { return queue_.size(); }
  // Drops every message on `topic`; returns how many.
  std::size_t erase_topic(const std::string& topic);
  void clear() { queue_.clear(); }

  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::deque<Outgoing> queue_;
  std::size_t capacity_;
  std::uint64_t dropped_ = 0;
};

}  // namespace gw
