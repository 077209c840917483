#include "transports/dtls/cookie.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace transport {

CookieJar::CookieJar() {
  rotate();
  previous_ = current_;
}

void CookieJar::rotate() {
  previous_ = current_;
  if (RAND_bytes(current_.data(), static_cast<int>(current_.size())) != 1) {
    // No randomness: keep the old secret rather than a predictable one (cookies still verify).
    current_ = previous_;
  }
}

CookieJar::Cookie CookieJar::mac(const Secret& secret, std::span<const std::uint8_t> peer) {
  Cookie out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), peer.data(), peer.size(),
       out.data(), &len);
  return out;
}

CookieJar::Cookie CookieJar::make(std::span<const std::uint8_t> peer) const {
  return mac(current_, peer);
}

bool CookieJar::verify(std::span<const std::uint8_t> peer,
                       std::span<const std::uint8_t> cookie) const {
  if (cookie.size() != kCookieBytes) return false;
  for (const Secret* s : {&current_, &previous_}) {
    const Cookie expected = mac(*s, peer);
    if (CRYPTO_memcmp(expected.data(), cookie.data(), kCookieBytes) == 0) return true;
  }
  return false;
}

}  // namespace transport
