// Broker messages buffered for sensors, counted over all sessions: the total caps
// (protocol.max_buffered_total, max_buffered_bytes_total) and the drops by reason. One object is
// shared by every session's Outbox (through SessionConfig); it lives on the loop thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace gw {

// Why a buffered message was dropped (the oldest QoS 0 goes first, else the oldest).
enum class DropReason : std::uint8_t {
  ClientMessages,  // protocol.max_buffered_per_client
  ClientBytes,     // protocol.max_buffered_bytes_per_client
  TotalMessages,   // protocol.max_buffered_total
  TotalBytes,      // protocol.max_buffered_bytes_total
};
inline constexpr std::size_t kDropReasons = 4;
// "client_messages", "client_bytes", "total_messages", "total_bytes" (logs, status JSON).
const char* to_string(DropReason r) noexcept;

class BufferBudget {
 public:
  // 0: no limit.
  BufferBudget(std::size_t max_messages = 0, std::size_t max_bytes = 0) noexcept
      : max_messages_(max_messages), max_bytes_(max_bytes) {}
  BufferBudget(const BufferBudget&) = delete;
  BufferBudget& operator=(const BufferBudget&) = delete;

  // SIGHUP: new limits apply to the next message buffered (nothing is dropped at once).
  void set_limits(std::size_t max_messages, std::size_t max_bytes) noexcept {
    max_messages_ = max_messages;
    max_bytes_ = max_bytes;
  }
  std::size_t max_messages() const noexcept { return max_messages_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

  void add(std::size_t bytes) noexcept {
    ++messages_;
    bytes_ += bytes;
  }
  void remove(std::size_t bytes) noexcept {
    --messages_;
    bytes_ -= bytes;
  }
  // Which total cap the buffered messages are over, if any.
  bool over_messages() const noexcept { return max_messages_ != 0 && messages_ > max_messages_; }
  bool over_bytes() const noexcept { return max_bytes_ != 0 && bytes_ > max_bytes_; }
  // Whether one message of `bytes` could never fit the total byte cap.
  bool too_big(std::size_t bytes) const noexcept { return max_bytes_ != 0 && bytes > max_bytes_; }

  std::size_t messages() const noexcept { return messages_; }
  std::size_t bytes() const noexcept { return bytes_; }

  void count_drop(DropReason r) noexcept { ++drops_[static_cast<std::size_t>(r)]; }
  std::uint64_t drops(DropReason r) const noexcept { return drops_[static_cast<std::size_t>(r)]; }

 private:
  std::size_t max_messages_;
  std::size_t max_bytes_;
  std::size_t messages_ = 0;
  std::size_t bytes_ = 0;
  std::array<std::uint64_t, kDropReasons> drops_{};
};

}  // namespace gw
