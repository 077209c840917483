// Per-source packet rate limit ([admission] rate_limit_pps / rate_limit_burst): a token bucket per
// source, in a table of bounded size. Pure: time comes in as an argument.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "transports/peer_address.hpp"

namespace gw {

using SteadyTime = std::chrono::steady_clock::time_point;

// `rate` tokens a second up to `burst`; one packet takes one token. Starts full.
class TokenBucket {
 public:
  TokenBucket(double burst, SteadyTime now) noexcept : tokens_(burst), last_(now) {}
  bool take(SteadyTime now, double rate, double burst) noexcept;
  // Full again by `now`: such a bucket is no different from a new one, so it can be forgotten.
  bool full_at(SteadyTime now, double rate, double burst) const noexcept;

 private:
  void refill(SteadyTime now, double rate, double burst) noexcept;
  double tokens_;
  SteadyTime last_;
};

// Who a limit applies to: the IP address for UDP (whatever the port, so hopping ports does not
// help), the device address for BLE.
struct SourceKey {
  std::uint8_t kind = 0;
  std::array<std::uint8_t, 16> bytes{};
  friend bool operator==(const SourceKey&, const SourceKey&) = default;
};
struct SourceKeyHash {
  std::size_t operator()(const SourceKey& k) const noexcept;
};
SourceKey source_key(const transport::PeerAddress& p) noexcept;

// The buckets, at most `max_sources`. When the table is full, buckets that have refilled are
// forgotten (at most once a second, the sweep is O(n)); sources that still find no room share
// one overflow bucket, so a flood from spoofed addresses neither grows memory nor starves the
// sources already known.
class RateLimiter {
 public:
  RateLimiter(double pps, double burst, std::size_t max_sources) noexcept
      : pps_(pps), burst_(burst < 1 ? 1 : burst), max_sources_(max_sources) {}
  // Whether a packet from `source` may pass now (and takes its token).
  bool allow(const SourceKey& source, SteadyTime now);

  std::size_t sources() const noexcept { return table_.size(); }
  std::uint64_t overflowed() const noexcept { return overflowed_; }

 private:
  void sweep(SteadyTime now);

  double pps_;
  double burst_;
  std::size_t max_sources_;
  std::unordered_map<SourceKey, TokenBucket, SourceKeyHash> table_;
  std::optional<TokenBucket> overflow_;
  std::optional<SteadyTime> last_sweep_;
  std::uint64_t overflowed_ = 0;  // packets judged by the overflow bucket
};

}  // namespace gw
