#include "transports/ble/framing.hpp"

#include <algorithm>
#include <optional>

#include "mqttsn/codec.hpp"

namespace transport::ble {

namespace {
constexpr std::uint8_t kEncapsulatedType = 0xFE;  // spec §5.5 Forwarder Encapsulation
}

std::vector<std::vector<std::uint8_t>> fragment(std::span<const std::uint8_t> message,
                                                std::size_t chunk) {
  std::vector<std::vector<std::uint8_t>> out;
  if (chunk == 0) return out;
  for (std::size_t off = 0; off < message.size(); off += chunk) {
    const auto piece = message.subspan(off, std::min(chunk, message.size() - off));
    out.emplace_back(piece.begin(), piece.end());
  }
  return out;
}

std::optional<std::size_t> message_length(std::span<const std::uint8_t> prefix) noexcept {
  const auto outer = mqttsn::frame_length(prefix);
  if (!outer) return std::nullopt;
  const std::size_t type_at = prefix[0] == 0x01 ? 3 : 1;
  if (prefix.size() <= type_at || prefix[type_at] != kEncapsulatedType) return outer;
  // An encapsulation header is followed by the whole inner frame.
  if (prefix.size() <= *outer) return std::nullopt;
  const auto inner = mqttsn::frame_length(prefix.subspan(*outer));
  if (!inner) return std::nullopt;
  return *outer + *inner;
}

void Reassembler::reset() noexcept {
  buf_.clear();
  expected_ = 0;
}

void Reassembler::feed(std::span<const std::uint8_t> chunk, Clock::time_point now,
                       const DeliverFn& deliver) {
  if (chunk.empty()) return;
  if (expected_ != 0 && now - started_ > timeout_) {
    ++dropped_;  // the rest of that message never came
    reset();
  }
  if (expected_ == 0) {
    start(chunk, now, deliver);
    return;
  }
  if (buf_.size() + chunk.size() > expected_) {
    // Overrun: a chunk was lost and this is probably the start of the next message.
    ++dropped_;
    reset();
    start(chunk, now, deliver);
    return;
  }
  buf_.insert(buf_.end(), chunk.begin(), chunk.end());
  if (buf_.size() == expected_) {
    deliver(buf_);
    reset();
  }
}

void Reassembler::start(std::span<const std::uint8_t> chunk, Clock::time_point now,
                        const DeliverFn& deliver) {
  const auto len = message_length(chunk);
  // Not a plausible header, too big, or longer than announced (two messages never share a chunk).
  if (!len || *len > max_message_ || chunk.size() > *len) {
    ++dropped_;
    return;
  }
  if (chunk.size() == *len) {
    deliver(chunk);
    return;
  }
  buf_.assign(chunk.begin(), chunk.end());
  buf_.reserve(*len);
  expected_ = *len;
  started_ = now;
}

}  // namespace transport::ble
