// MQTT-SN over a GATT characteristic: cutting messages into ATT-sized chunks and putting them back
// together (ble.md "Framing"). Knows only the MQTT-SN length header, through mqttsn::frame_length.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace transport::ble {

// Splits one message into chunks of at most `chunk` bytes (MTU - 3); never joins two messages.
std::vector<std::vector<std::uint8_t>> fragment(std::span<const std::uint8_t> message,
                                                std::size_t chunk);

// Total size of the frame whose first bytes are `prefix`, looking through one forwarder
// encapsulation (0xFE) to the inner frame; nullopt if the prefix is too short or implausible.
std::optional<std::size_t> message_length(std::span<const std::uint8_t> prefix) noexcept;

// Collects the chunks of one peer into whole messages.
class Reassembler {
 public:
  using Clock = std::chrono::steady_clock;
  using DeliverFn = std::function<void(std::span<const std::uint8_t>)>;

  Reassembler(std::size_t max_message, std::chrono::milliseconds timeout) noexcept
      : max_message_(max_message), timeout_(timeout) {}

  // Feeds one notification; calls `deliver` when it completes a message.
  void feed(std::span<const std::uint8_t> chunk, Clock::time_point now, const DeliverFn& deliver);
  // Forgets a partial message (link down).
  void reset() noexcept;

  bool idle() const noexcept { return expected_ == 0; }
  // Chunks thrown away: implausible headers, oversize, overruns, stale partial messages.
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  void start(std::span<const std::uint8_t> chunk, Clock::time_point now, const DeliverFn& deliver);

  std::size_t max_message_;
  std::chrono::milliseconds timeout_;
  std::vector<std::uint8_t> buf_;
  std::size_t expected_ = 0;  // 0 = idle
  Clock::time_point started_{};
  std::uint64_t dropped_ = 0;
};

}  // namespace transport::ble
