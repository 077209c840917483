#include "transports/dtls/dtls_transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>
#include <utility>

#include "transports/dtls/dtls_internal.hpp"
#include "transports/log/limited_log.hpp"
#include "transports/udp/udp_transport.hpp"

namespace transport {

using dtls_detail::openssl_error;

namespace {

constexpr std::size_t kMaxDatagram = 64 * 1024;
// DTLS record payload limit: leaves room for IPv6 and UDP headers in a 1280-byte path.
constexpr long kRecordMtu = 1200;

// Record layer (RFC 6347 §4.1): type(1) version(2) epoch(2) sequence(6) length(2).
constexpr std::size_t kRecordHeader = 13;

bool looks_like_dtls(std::span<const std::uint8_t> b) {
  // Content types 20..25 and major version 0xFE (DTLS 1.x).
  return b.size() >= kRecordHeader && b[0] >= 20 && b[0] <= 25 && b[1] == 0xFE;
}

bool is_client_hello(std::span<const std::uint8_t> b) {
  return b.size() > kRecordHeader && b[0] == 22 && b[3] == 0 && b[4] == 0 && b[kRecordHeader] == 1;
}

PeerAddress from_sockaddr(const sockaddr* sa, std::uint8_t endpoint) {
  PeerAddress p;
  p.kind = Kind::Dtls;
  p.endpoint = endpoint;
  const std::size_t len = sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  p.size = static_cast<std::uint8_t>(len);
  std::memcpy(p.raw.data(), sa, len);
  return p;
}

std::string common_name(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return {};
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

// A send that could not complete at once owns its bytes until libuv is done with them.
struct SendRequest {
  uv_udp_send_t req{};
  std::vector<std::uint8_t> data;
  std::uint64_t* send_errors = nullptr;
};

}  // namespace

DtlsTransport::DtlsTransport(uv_loop_t* loop, ReceiveFn on_receive)
    : loop_(loop), on_receive_(std::move(on_receive)) {}

DtlsTransport::~DtlsTransport() = default;

std::unique_ptr<DtlsTransport::Peer> DtlsTransport::new_peer(Socket& s) {
  auto p = std::make_unique<Peer>();
  p->socket = &s;
  p->link.owner = p.get();
  Peer* raw = p.get();
  p->link.send = [this, raw](std::span<const std::uint8_t> bytes) {
    send_raw(*raw->socket, raw->address, bytes);
  };
  p->ssl.reset(SSL_new(ctx_.get()));
  if (!p->ssl) return nullptr;
  BIO* bio = datagram_bio_new(&p->link);
  if (bio == nullptr) return nullptr;
  SSL_set_bio(p->ssl.get(), bio, bio);
  SSL_set_options(p->ssl.get(), SSL_OP_COOKIE_EXCHANGE | SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(p->ssl.get(), kRecordMtu);
  SSL_set_accept_state(p->ssl.get());
  return p;
}

std::string DtlsTransport::start(const DtlsOptions& options, PskKeys keys) {
  options_ = options;
  require_certificate_ = options.require_certificate;
  keys_ = std::make_shared<const PskKeys>(std::move(keys));
  if (options.cert_file.empty() && keys_->empty())
    return "dtls: no keys in dtls.psk_file and no dtls.cert_file: no client could connect";
  if (auto e = make_context(options); !e.empty()) return e;
  uv_timer_init(loop_, &retransmit_timer_);
  uv_timer_init(loop_, &sweep_timer_);
  retransmit_timer_.data = this;
  sweep_timer_.data = this;
  timers_open_ = true;
  open_handles_ += 2;
  uv_timer_start(
      &sweep_timer_, [](uv_timer_t* t) { static_cast<DtlsTransport*>(t->data)->sweep(); }, 1000,
      1000);
  if (options.listen.size() > 255) return "dtls.listen: too many addresses";
  for (const auto& text : options.listen) {
    auto addr = parse_udp_address(text);
    if (!addr) return "dtls.listen: bad address \"" + text + "\"";
    auto s = std::make_unique<Socket>();
    s->owner = this;
    s->index = static_cast<std::uint8_t>(sockets_.size());
    sockaddr_storage ss{};
    std::memcpy(&ss, addr->raw.data(), addr->size);
    s->family = ss.ss_family;
    s->buffer.resize(kMaxDatagram);
    s->client = BIO_ADDR_new();
    s->listener = new_peer(*s);
    if (!s->listener || s->client == nullptr) return "dtls: " + openssl_error();
    s->handle.data = s.get();
    int rc = uv_udp_init_ex(loop_, &s->handle, static_cast<unsigned>(s->family));
    if (rc != 0) return "dtls.listen " + text + ": " + uv_strerror(rc);
    s->open = true;
    ++open_handles_;
    Socket* raw = s.get();
    sockets_.push_back(std::move(s));
    const unsigned flags = raw->family == AF_INET6 ? static_cast<unsigned>(UV_UDP_IPV6ONLY) : 0u;
    rc = uv_udp_bind(&raw->handle, reinterpret_cast<const sockaddr*>(&ss), flags);
    if (rc != 0) return "dtls.listen " + text + ": " + uv_strerror(rc);
    if (options.receive_buffer_bytes > 0) {
      int value = static_cast<int>(std::min<std::size_t>(options.receive_buffer_bytes, 1u << 30));
      uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&raw->handle), &value);
    }
    rc = uv_udp_recv_start(&raw->handle, &DtlsTransport::on_alloc, &DtlsTransport::on_recv);
    if (rc != 0) return "dtls.listen " + text + ": " + uv_strerror(rc);
  }
  return {};
}

void DtlsTransport::set_psk_keys(PskKeys keys) {
  keys_ = std::make_shared<const PskKeys>(std::move(keys));
}

void DtlsTransport::close() {
  // Established peers learn that the gateway is gone (close_notify), so they handshake afresh.
  for (auto& [addr, p] : peers_)
    if (p->established) SSL_shutdown(p->ssl.get());
  peers_.clear();
  handshaking_ = 0;
  for (auto& s : sockets_) {
    if (!s->open) continue;
    s->open = false;
    uv_udp_recv_stop(&s->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), &DtlsTransport::on_closed);
  }
  if (timers_open_) {
    timers_open_ = false;
    auto closed = [](uv_handle_t* h) { --static_cast<DtlsTransport*>(h->data)->open_handles_; };
    uv_close(reinterpret_cast<uv_handle_t*>(&retransmit_timer_), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), closed);
  }
}

void DtlsTransport::on_closed(uv_handle_t* h) {
  --static_cast<Socket*>(h->data)->owner->open_handles_;
}

void DtlsTransport::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* s = static_cast<Socket*>(h->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(s->buffer.data()),
                     static_cast<unsigned>(s->buffer.size()));
}

void DtlsTransport::on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                            unsigned flags) {
  auto* s = static_cast<Socket*>(h->data);
  DtlsTransport& self = *s->owner;
  if (nread < 0) {
    ++self.counters_.receive_errors;
    return;
  }
  if (addr == nullptr || !s->open) return;
  if ((flags & UV_UDP_PARTIAL) != 0) {
    ++self.counters_.receive_errors;
    return;
  }
  self.datagram(
      *s, from_sockaddr(addr, s->index),
      {reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)});
}

void DtlsTransport::datagram(Socket& s, const PeerAddress& from,
                             std::span<const std::uint8_t> bytes) {
  if (admit_ && !admit_(from)) {
    ++counters_.not_admitted;
    return;
  }
  if (!looks_like_dtls(bytes)) {
    ++counters_.not_dtls;
    util::log_limited("dtls not dtls", spdlog::level::debug,
                      "dtls: {} byte datagram from {} is not DTLS: dropped", bytes.size(),
                      to_string(from));
    return;
  }
  if (auto it = peers_.find(from); it != peers_.end()) {
    Peer& p = *it->second;
    if (p.established && is_client_hello(bytes)) {
      // The sensor restarted and handshakes afresh from the same address and port. Its session
      // is replaced only once the new ClientHello returns a valid cookie: a spoofed ClientHello
      // cannot end it.
      hello(s, from, bytes);
      return;
    }
    p.link.inbound = bytes;
    if (p.established) {
      read_records(p);
    } else {
      progress(p);
    }
    return;
  }
  if (!is_client_hello(bytes)) {
    ++counters_.unknown_peer;
    util::log_limited("dtls unknown peer", spdlog::level::debug,
                      "dtls: record from {} without a handshake: dropped", to_string(from));
    return;
  }
  hello(s, from, bytes);
}

void DtlsTransport::hello(Socket& s, const PeerAddress& from, std::span<const std::uint8_t> bytes) {
  const bool replaces = peers_.contains(from);
  if (!replaces && peers_.size() - handshaking_ >= options_.max_peers) {
    ++counters_.peer_cap;
    util::log_limited("dtls peer cap", spdlog::level::warn,
                      "dtls: ClientHello from {} dropped: {} peers (max_peers)", to_string(from),
                      options_.max_peers);
    return;
  }
  if (handshaking_ >= options_.max_handshakes) {
    ++counters_.handshake_cap;
    util::log_limited("dtls handshake cap", spdlog::level::warn,
                      "dtls: ClientHello from {} dropped: {} handshakes under way (max_handshakes)",
                      to_string(from), options_.max_handshakes);
    return;
  }
  Peer& l = *s.listener;
  l.address = from;
  l.link.inbound = bytes;
  const int rc = DTLSv1_listen(l.ssl.get(), s.client);
  l.link.inbound = {};
  if (rc == 0) {
    ERR_clear_error();
    return;  // answered with a cookie, or not a usable ClientHello
  }
  auto fresh = new_peer(s);
  if (!fresh) {
    ERR_clear_error();
    return;  // out of memory: keep the listener, the client retries
  }
  if (rc < 0) {
    ERR_clear_error();
    s.listener = std::move(fresh);
    return;
  }
  // A valid cookie came back: only now does this peer get state of its own.
  std::unique_ptr<Peer> p = std::move(s.listener);
  s.listener = std::move(fresh);
  const std::uint64_t now = uv_now(loop_);
  p->started_ms = now;
  p->last_ms = now;
  Peer& ref = *p;
  if (replaces) erase(from);
  peers_[from] = std::move(p);
  ++handshaking_;
  progress(ref);
}

void DtlsTransport::progress(Peer& p) {
  p.last_ms = uv_now(loop_);
  const int rc = SSL_do_handshake(p.ssl.get());
  p.link.inbound = {};
  if (rc == 1) {
    established(p);
    return;
  }
  const int err = SSL_get_error(p.ssl.get(), rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    arm_retransmit();
    return;
  }
  fail(p, openssl_error());
}

void DtlsTransport::established(Peer& p) {
  SSL* ssl = p.ssl.get();
  --handshaking_;
  p.established = true;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (require_certificate_ && cert == nullptr) {
    ++handshaking_;  // fail() counts it as a failed handshake
    p.established = false;
    fail(p, "no client certificate (dtls.require_certificate)");
    return;
  }
  if (const char* id = SSL_get_psk_identity(ssl); id != nullptr)
    p.identity = id;
  else if (cert != nullptr)
    p.identity = common_name(cert);
  ++counters_.handshakes_done;
  util::log_limited("dtls handshake", spdlog::level::info, "dtls: {} connected as \"{}\" ({})",
                    to_string(p.address), p.identity, SSL_get_cipher_name(ssl));
  read_records(p);
}

void DtlsTransport::fail(Peer& p, const std::string& why) {
  ++counters_.handshakes_failed;
  util::log_limited("dtls handshake failed", spdlog::level::warn,
                    "dtls: handshake with {} failed: {}", to_string(p.address), why);
  erase(p.address);
}

void DtlsTransport::read_records(Peer& p) {
  std::array<std::uint8_t, 16384> plain;
  const PeerAddress who = p.address;
  for (;;) {
    const int n = SSL_read(p.ssl.get(), plain.data(), static_cast<int>(plain.size()));
    if (n > 0) {
      ++counters_.records_in;
      p.last_ms = uv_now(loop_);
      if (on_receive_) on_receive_(who, p.identity, {plain.data(), static_cast<std::size_t>(n)});
      // The receiver may have sent through this peer, never erased it; it is still there.
      continue;
    }
    const int err = SSL_get_error(p.ssl.get(), n);
    p.link.inbound = {};
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      ++counters_.closed_by_peer;
    } else {
      ++counters_.bad_records;
      util::log_limited("dtls record", spdlog::level::info, "dtls: {} dropped: {}", to_string(who),
                        openssl_error());
    }
    ERR_clear_error();
    erase(who);
    return;
  }
}

void DtlsTransport::erase(const PeerAddress& who) {
  auto it = peers_.find(who);
  if (it == peers_.end()) return;
  if (!it->second->established) --handshaking_;
  peers_.erase(it);
}

void DtlsTransport::send(const PeerAddress& to, std::span<const std::uint8_t> bytes) {
  auto it = to.kind == Kind::Dtls ? peers_.find(to) : peers_.end();
  if (it == peers_.end() || !it->second->established || bytes.empty()) {
    ++counters_.send_errors;
    return;
  }
  const int n = SSL_write(it->second->ssl.get(), bytes.data(), static_cast<int>(bytes.size()));
  if (n <= 0) {
    ++counters_.send_errors;
    ERR_clear_error();
    return;
  }
  ++counters_.records_out;
}

void DtlsTransport::send_raw(Socket& s, const PeerAddress& to,
                             std::span<const std::uint8_t> bytes) {
  if (!s.open) return;
  sockaddr_storage ss{};
  std::memcpy(&ss, to.raw.data(), std::min<std::size_t>(to.size, sizeof ss));
  const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                             static_cast<unsigned>(bytes.size()));
  int rc = uv_udp_try_send(&s.handle, &buf, 1, sa);
  if (rc >= 0) return;
  if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
    ++counters_.send_errors;
    return;
  }
  auto req = std::make_unique<SendRequest>();
  req->data.assign(bytes.begin(), bytes.end());
  req->send_errors = &counters_.send_errors;
  req->req.data = req.get();
  buf = uv_buf_init(reinterpret_cast<char*>(req->data.data()),
                    static_cast<unsigned>(req->data.size()));
  rc = uv_udp_send(&req->req, &s.handle, &buf, 1, sa, [](uv_udp_send_t* r, int status) {
    std::unique_ptr<SendRequest> owned(static_cast<SendRequest*>(r->data));
    if (status != 0) ++*owned->send_errors;
  });
  if (rc != 0) {
    ++counters_.send_errors;
    return;
  }
  static_cast<void>(req.release());  // the send callback takes it back
}

std::vector<std::string> DtlsTransport::local_addresses() const {
  std::vector<std::string> out;
  for (const auto& s : sockets_) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (!s->open || uv_udp_getsockname(&s->handle, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      out.emplace_back();
      continue;
    }
    out.push_back(to_string(from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), s->index))
                      .substr(5));  // without "dtls:"
  }
  return out;
}

}  // namespace transport
