#include "gateway/admission/rate_limit.hpp"

#include <algorithm>
#include <cstring>

#include "gateway/admission/admission.hpp"

namespace gw {

void TokenBucket::refill(SteadyTime now, double rate, double burst) noexcept {
  if (now > last_) {
    tokens_ = std::min(burst, tokens_ + std::chrono::duration<double>(now - last_).count() * rate);
    last_ = now;
  }
}

bool TokenBucket::take(SteadyTime now, double rate, double burst) noexcept {
  refill(now, rate, burst);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool TokenBucket::full_at(SteadyTime now, double rate, double burst) const noexcept {
  const double elapsed = now > last_ ? std::chrono::duration<double>(now - last_).count() : 0.0;
  return tokens_ + elapsed * rate >= burst;
}

std::size_t SourceKeyHash::operator()(const SourceKey& k) const noexcept {
  std::uint64_t h = 1469598103934665603ULL ^ k.kind;
  for (auto b : k.bytes) {
    h ^= b;
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

SourceKey source_key(const transport::PeerAddress& p) noexcept {
  SourceKey k;
  k.kind = static_cast<std::uint8_t>(p.kind);
  if (auto ip = ip_of(p))
    k.bytes = *ip;
  else
    std::memcpy(k.bytes.data(), p.raw.data(), std::min<std::size_t>(p.size, k.bytes.size()));
  return k;
}

bool RateLimiter::allow(const SourceKey& source, SteadyTime now) {
  if (auto it = table_.find(source); it != table_.end()) return it->second.take(now, pps_, burst_);
  if (table_.size() >= max_sources_ &&
      (!last_sweep_ || now - *last_sweep_ >= std::chrono::seconds(1)))
    sweep(now);
  if (table_.size() < max_sources_) {
    auto it = table_.emplace(source, TokenBucket(burst_, now)).first;
    return it->second.take(now, pps_, burst_);
  }
  ++overflowed_;
  if (!overflow_) overflow_.emplace(burst_, now);
  return overflow_->take(now, pps_, burst_);
}

void RateLimiter::sweep(SteadyTime now) {
  last_sweep_ = now;
  std::erase_if(table_, [&](const auto& kv) { return kv.second.full_at(now, pps_, burst_); });
}

}  // namespace gw
