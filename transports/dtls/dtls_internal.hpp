// What the DTLS transport's files share: the per-peer and per-socket records and small helpers.
// Internal to transports/dtls/.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "transports/dtls/datagram_bio.hpp"
#include "transports/dtls/dtls_transport.hpp"

namespace transport::dtls_detail {

// The last OpenSSL error as text; clears the error queue.
inline std::string openssl_error() {
  const unsigned long e = ERR_peek_last_error();
  std::string text = "unknown error";
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

struct SslDeleter {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};

}  // namespace transport::dtls_detail

namespace transport {

struct DtlsTransport::Peer {
  PeerAddress address;
  Socket* socket = nullptr;
  DatagramLink link;
  std::unique_ptr<SSL, dtls_detail::SslDeleter> ssl;
  bool established = false;
  std::string identity;
  std::uint64_t started_ms = 0;
  std::uint64_t last_ms = 0;
};

struct DtlsTransport::Socket {
  uv_udp_t handle{};
  DtlsTransport* owner = nullptr;
  std::uint8_t index = 0;
  int family = AF_INET;
  bool open = false;
  std::vector<std::uint8_t> buffer;
  // The SSL object DTLSv1_listen runs on: it answers ClientHellos without a cookie and becomes
  // the peer's own once one arrives with a valid cookie (then a new one takes its place).
  std::unique_ptr<Peer> listener;
  BIO_ADDR* client = nullptr;
  ~Socket() { BIO_ADDR_free(client); }
};

}  // namespace transport
