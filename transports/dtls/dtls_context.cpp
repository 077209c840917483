// The DTLS transport's OpenSSL context: certificates, PSK and cookie callbacks.
#include <openssl/x509.h>

#include "transports/dtls/dtls_internal.hpp"
#include "transports/log/limited_log.hpp"

namespace transport {

using dtls_detail::openssl_error;

namespace {

// The bytes a cookie is bound to: which socket, and the source address and port.
std::span<const std::uint8_t> cookie_input(const PeerAddress& a,
                                           std::array<std::uint8_t, 29>& buf) {
  buf[0] = a.endpoint;
  std::memcpy(buf.data() + 1, a.raw.data(), a.size);
  return {buf.data(), std::size_t{1} + a.size};
}

}  // namespace

void DtlsTransport::SslCtxDeleter::operator()(SSL_CTX* c) const noexcept {
  SSL_CTX_free(c);
}

DtlsTransport* DtlsTransport::from_ssl(SSL* ssl) {
  return static_cast<DtlsTransport*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

int DtlsTransport::generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* len) {
  DatagramLink* link = datagram_bio_link(SSL_get_rbio(ssl));
  if (link == nullptr) return 0;
  DtlsTransport* self = from_ssl(ssl);
  std::array<std::uint8_t, 29> buf{};
  const auto c = self->cookies_.make(cookie_input(static_cast<Peer*>(link->owner)->address, buf));
  std::memcpy(cookie, c.data(), c.size());
  *len = static_cast<unsigned int>(c.size());
  ++self->counters_.hello_verify;
  return 1;
}

int DtlsTransport::verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int len) {
  DatagramLink* link = datagram_bio_link(SSL_get_rbio(ssl));
  if (link == nullptr) return 0;
  std::array<std::uint8_t, 29> buf{};
  return from_ssl(ssl)->cookies_.verify(cookie_input(static_cast<Peer*>(link->owner)->address, buf),
                                        {cookie, len})
             ? 1
             : 0;
}

unsigned int DtlsTransport::psk_server(SSL* ssl, const char* identity, unsigned char* psk,
                                       unsigned int max_len) {
  DtlsTransport* self = from_ssl(ssl);
  if (identity == nullptr || !self->keys_) return 0;
  const auto it = self->keys_->find(std::string_view(identity));
  if (it == self->keys_->end() || it->second.size() > max_len) {
    util::log_limited("dtls unknown identity", spdlog::level::warn,
                      "dtls: unknown PSK identity \"{}\"", identity);
    return 0;
  }
  std::memcpy(psk, it->second.data(), it->second.size());
  return static_cast<unsigned int>(it->second.size());
}

std::string DtlsTransport::make_context(const DtlsOptions& o) {
  ctx_.reset(SSL_CTX_new(DTLS_server_method()));
  SSL_CTX* c = ctx_.get();
  if (c == nullptr) return "dtls: " + openssl_error();
  SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION);
  SSL_CTX_set_app_data(c, this);
  SSL_CTX_set_cookie_generate_cb(c, &DtlsTransport::generate_cookie);
  SSL_CTX_set_cookie_verify_cb(c, &DtlsTransport::verify_cookie);
  SSL_CTX_set_psk_server_callback(c, &DtlsTransport::psk_server);
  // No session cache: memory stays bounded by max_peers.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  // A certificate is required of every client: PSK-only suites cannot give one.
  if (o.require_certificate && SSL_CTX_set_cipher_list(c, "DEFAULT:!PSK") != 1)
    return "dtls: " + openssl_error();
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str()) != 1)
      return "dtls.cert_file " + o.cert_file + ": " + openssl_error();
    if (SSL_CTX_use_PrivateKey_file(c, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      return "dtls.key_file " + o.key_file + ": " + openssl_error();
    if (SSL_CTX_check_private_key(c) != 1)
      return "dtls.key_file: does not match dtls.cert_file: " + openssl_error();
  }
  int mode = SSL_VERIFY_NONE;
  if (!o.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, o.ca_file.c_str(), nullptr) != 1)
      return "dtls.ca_file " + o.ca_file + ": " + openssl_error();
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str()))
      SSL_CTX_set_client_CA_list(c, names);
    mode = SSL_VERIFY_PEER;
  }
  if (o.require_certificate) mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c, mode, nullptr);
  return {};
}

}  // namespace transport
