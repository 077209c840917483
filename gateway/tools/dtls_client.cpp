#include "gateway/tools/dtls_client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "gateway/tools/tool_error.hpp"

namespace mqttsn::tools {

namespace {

std::string openssl_error() {
  const unsigned long e = ERR_peek_last_error();
  std::string text = "handshake failed";
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    text = buf;
  }
  ERR_clear_error();
  return text;
}

std::vector<std::uint8_t> parse_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.empty() || hex.size() % 2 != 0) throw ToolError("--psk: expected hexadecimal digits");
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = value(hex[i]);
    const int lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0) throw ToolError("--psk: expected hexadecimal digits");
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

unsigned int DtlsClient::psk_client(SSL* ssl, const char* /*hint*/, char* identity,
                                    unsigned int max_identity, unsigned char* psk,
                                    unsigned int max_psk) {
  auto* self = static_cast<DtlsClient*>(SSL_get_app_data(ssl));
  if (self->identity_.size() + 1 > max_identity || self->key_.size() > max_psk) return 0;
  std::memcpy(identity, self->identity_.c_str(), self->identity_.size() + 1);
  std::memcpy(psk, self->key_.data(), self->key_.size());
  return static_cast<unsigned int>(self->key_.size());
}

DtlsClient::DtlsClient(int fd, const DtlsClientOptions& o, const std::string& peer,
                       Clock::time_point deadline)
    : fd_(fd), peer_(peer), identity_(o.psk_identity) {
  if (!o.psk_hex.empty() || !o.psk_identity.empty()) {
    if (o.psk_hex.empty() || o.psk_identity.empty())
      throw ToolError("--psk and --psk-identity go together");
    key_ = parse_hex(o.psk_hex);
  }
  if (o.cert.empty() != o.key.empty()) throw ToolError("--cert and --key go together");
  ctx_.reset(SSL_CTX_new(DTLS_client_method()));
  if (!ctx_) throw ToolError("DTLS: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx_.get(), DTLS1_2_VERSION);
  if (!key_.empty()) SSL_CTX_set_psk_client_callback(ctx_.get(), &DtlsClient::psk_client);
  // PSK without a certificate: offer only PSK suites, so a gateway that also has a certificate
  // cannot pick a certificate suite this client has no identity for.
  if (!key_.empty() && o.cert.empty() && SSL_CTX_set_cipher_list(ctx_.get(), "PSK") != 1)
    throw ToolError("DTLS: " + openssl_error());
  if (!o.cafile.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_.get(), o.cafile.c_str(), nullptr) != 1)
      throw ToolError("--cafile " + o.cafile + ": " + openssl_error());
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }
  if (!o.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_.get(), o.cert.c_str()) != 1)
      throw ToolError("--cert " + o.cert + ": " + openssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx_.get(), o.key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw ToolError("--key " + o.key + ": " + openssl_error());
  }
  ssl_.reset(SSL_new(ctx_.get()));
  BIO* bio = ssl_ ? BIO_new_dgram(fd_, BIO_NOCLOSE) : nullptr;
  if (bio == nullptr) throw ToolError("DTLS: " + openssl_error());
  SSL_set_bio(ssl_.get(), bio, bio);
  SSL_set_app_data(ssl_.get(), this);
  // The socket is connected: the BIO sends with send() to the peer it learns here.
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    BIO_ADDR* addr = BIO_ADDR_new();
    if (addr != nullptr) {
      if (ss.ss_family == AF_INET6) {
        sockaddr_in6 s6{};
        std::memcpy(&s6, &ss, sizeof s6);
        BIO_ADDR_rawmake(addr, AF_INET6, &s6.sin6_addr, sizeof s6.sin6_addr, s6.sin6_port);
      } else {
        sockaddr_in s4{};
        std::memcpy(&s4, &ss, sizeof s4);
        BIO_ADDR_rawmake(addr, AF_INET, &s4.sin_addr, sizeof s4.sin_addr, s4.sin_port);
      }
      BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, addr);
      BIO_ADDR_free(addr);
    }
  }
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  for (;;) {
    const int rc = SSL_connect(ssl_.get());
    if (rc == 1) return;
    const int err = SSL_get_error(ssl_.get(), rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
      throw ToolError("DTLS handshake with " + peer_ + " failed: " + openssl_error());
    if (!wait(deadline) && Clock::now() >= deadline)
      throw ToolError("DTLS handshake with " + peer_ + ": no answer");
  }
}

void DtlsClient::CtxFree::operator()(SSL_CTX* c) const noexcept {
  SSL_CTX_free(c);
}
void DtlsClient::SslFree::operator()(SSL* s) const noexcept {
  SSL_free(s);
}

DtlsClient::~DtlsClient() {
  if (ssl_ && SSL_is_init_finished(ssl_.get()))
    SSL_shutdown(ssl_.get());  // close_notify: the gateway forgets this peer at once
  ERR_clear_error();
}

bool DtlsClient::wait(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  timeval tv{};
  bool timer = false;
  if (DTLSv1_get_timeout(ssl_.get(), &tv) == 1) {
    const long long t = static_cast<long long>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
    if (t < left) {
      left = t;
      timer = true;
    }
  }
  pollfd p{fd_, POLLIN, 0};
  const int ready = poll(&p, 1, static_cast<int>(left));
  if (ready < 0) return false;  // EINTR: the caller checks for a stop signal
  if (ready == 0 && timer) DTLSv1_handle_timeout(ssl_.get());  // resends our last flight
  return true;
}

void DtlsClient::write(std::span<const std::uint8_t> frame) {
  const int n = SSL_write(ssl_.get(), frame.data(), static_cast<int>(frame.size()));
  if (n <= 0) throw ToolError("cannot send to gateway " + peer_ + " over DTLS: " + openssl_error());
}

std::optional<std::vector<std::uint8_t>> DtlsClient::read(Clock::time_point deadline) {
  std::vector<std::uint8_t> buf(16384);
  for (;;) {
    const int n = SSL_read(ssl_.get(), buf.data(), static_cast<int>(buf.size()));
    if (n > 0) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_ZERO_RETURN)
      throw ToolError("gateway " + peer_ + " closed the DTLS session");
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
      throw ToolError("DTLS from gateway " + peer_ + ": " + openssl_error());
    ERR_clear_error();
    if (!wait(deadline)) return std::nullopt;
  }
}

}  // namespace mqttsn::tools
