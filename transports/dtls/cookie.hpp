// Stateless DTLS cookies (RFC 6347 §4.2.1): an HMAC-SHA256 over the peer's address under a
// random secret that rotates; the previous secret still verifies, so a cookie handed out just
// before a rotation stays good for one more period. Nothing is stored per peer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace transport {

class CookieJar {
 public:
  static constexpr std::size_t kCookieBytes = 32;
  using Cookie = std::array<std::uint8_t, kCookieBytes>;

  CookieJar();  // a fresh random secret
  // New secret; the current one becomes the previous one.
  void rotate();
  Cookie make(std::span<const std::uint8_t> peer) const;
  bool verify(std::span<const std::uint8_t> peer, std::span<const std::uint8_t> cookie) const;

 private:
  using Secret = std::array<std::uint8_t, 32>;
  static Cookie mac(const Secret& secret, std::span<const std::uint8_t> peer);
  Secret current_{};
  Secret previous_{};
};

}  // namespace transport
