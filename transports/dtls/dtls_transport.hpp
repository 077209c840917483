// DTLS 1.2 transport on libuv and OpenSSL: UDP sockets whose datagrams are DTLS records. One SSL
// object per peer, created only after a stateless cookie round trip (HelloVerifyRequest); handshake
// flights are retransmitted from a libuv timer; one application record carries one message.
// Knows nothing of MQTT-SN: it hands (PeerAddress of kind Dtls, peer identity, bytes) up; the
// identity is the PSK identity or the client certificate's CN.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "transports/dtls/cookie.hpp"
#include "transports/dtls/psk_file.hpp"
#include "transports/peer_address.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace transport {

struct DtlsOptions {
  std::vector<std::string> listen{"0.0.0.0:8883", "[::]:8883"};
  std::size_t receive_buffer_bytes = 4u * 1024u * 1024u;
  std::string cert_file;  // server certificate chain (PEM); "" = PSK only
  std::string key_file;
  std::string ca_file;  // client certificates must chain to it; "" = none asked for
  bool require_certificate = false;
  std::size_t max_handshakes = 256;  // peers between cookie and Finished
  std::size_t max_peers = 10000;     // established peers
  std::chrono::seconds handshake_timeout{30};
  std::chrono::seconds idle_timeout{3600};  // an established peer silent this long is forgotten
};

struct DtlsCounters {
  std::uint64_t records_in = 0;    // application records decrypted
  std::uint64_t records_out = 0;   // application records sent
  std::uint64_t hello_verify = 0;  // cookies sent (HelloVerifyRequest)
  std::uint64_t handshakes_done = 0;
  std::uint64_t handshakes_failed = 0;  // alert, bad key or certificate, retransmits exhausted
  std::uint64_t handshakes_timed_out = 0;
  std::uint64_t not_dtls = 0;       // plain datagrams on a DTLS port
  std::uint64_t unknown_peer = 0;   // records from a peer with no handshake (not a ClientHello)
  std::uint64_t handshake_cap = 0;  // ClientHellos dropped: max_handshakes peers in handshake
  std::uint64_t peer_cap = 0;       // ClientHellos dropped: max_peers established
  std::uint64_t not_admitted = 0;   // source not allowed (admission hook)
  std::uint64_t bad_records = 0;    // did not decrypt or authenticate
  std::uint64_t idle_expired = 0;
  std::uint64_t session_ended = 0;   // forgotten with their session (expire())
  std::uint64_t closed_by_peer = 0;  // close_notify or fatal alert
  std::uint64_t send_errors = 0;
  std::uint64_t receive_errors = 0;
};

class DtlsTransport final : public Transport {
 public:
  using ReceiveFn = std::function<void(const PeerAddress&, std::string_view identity,
                                       std::span<const std::uint8_t>)>;
  // Asked for every datagram before anything else (source networks); false drops it.
  using AdmitFn = std::function<bool(const PeerAddress&)>;

  DtlsTransport(uv_loop_t* loop, ReceiveFn on_receive);
  ~DtlsTransport() override;
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  // Loads the certificates, binds every listen address and starts receiving. Error text, empty on
  // success; on error what was opened stays open until close().
  std::string start(const DtlsOptions& options, PskKeys keys);
  // New handshakes use these keys; established peers keep theirs.
  void set_psk_keys(PskKeys keys);
  void set_admit(AdmitFn admit) { admit_ = std::move(admit); }
  void close();
  bool closed() const noexcept { return open_handles_ == 0; }

  Kind kind() const noexcept override { return Kind::Dtls; }
  void send(const PeerAddress& to, std::span<const std::uint8_t> bytes) override;

  std::vector<std::string> local_addresses() const;
  const DtlsCounters& counters() const noexcept { return counters_; }
  std::size_t peers() const noexcept { return peers_.size() - handshaking_; }
  std::size_t handshaking() const noexcept { return handshaking_; }
  // Forgets (close_notify) the established peers silent for at least `idle` for which `drop`
  // says so, e.g. those whose session above has ended. Returns how many.
  std::size_t expire(std::chrono::milliseconds idle,
                     const std::function<bool(const PeerAddress&)>& drop);

 private:
  struct Socket;
  struct Peer;
  struct SslCtxDeleter {
    void operator()(SSL_CTX* c) const noexcept;
  };

  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags);
  static void on_closed(uv_handle_t* h);
  static int generate_cookie(SSL* ssl, unsigned char* cookie, unsigned int* len);
  static int verify_cookie(SSL* ssl, const unsigned char* cookie, unsigned int len);
  static unsigned int psk_server(SSL* ssl, const char* identity, unsigned char* psk,
                                 unsigned int max_len);
  static DtlsTransport* from_ssl(SSL* ssl);

  std::string make_context(const DtlsOptions& options);
  std::unique_ptr<Peer> new_peer(Socket& s);
  void datagram(Socket& s, const PeerAddress& from, std::span<const std::uint8_t> bytes);
  void hello(Socket& s, const PeerAddress& from, std::span<const std::uint8_t> bytes);
  void progress(Peer& p);      // drives a handshake; may erase p
  void read_records(Peer& p);  // may erase p
  void established(Peer& p);
  void fail(Peer& p, const std::string& why);
  void erase(const PeerAddress& who);
  void send_raw(Socket& s, const PeerAddress& to, std::span<const std::uint8_t> bytes);
  void arm_retransmit();
  void on_retransmit();
  void sweep();

  uv_loop_t* loop_;
  ReceiveFn on_receive_;
  AdmitFn admit_;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx_;
  std::shared_ptr<const PskKeys> keys_;
  bool require_certificate_ = false;
  DtlsOptions options_;
  CookieJar cookies_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::unordered_map<PeerAddress, std::unique_ptr<Peer>, PeerAddressHash> peers_;
  std::size_t handshaking_ = 0;
  uv_timer_t retransmit_timer_{};
  uv_timer_t sweep_timer_{};
  bool timers_open_ = false;
  std::size_t open_handles_ = 0;
  std::uint64_t sweeps_ = 0;
  DtlsCounters counters_;
};

}  // namespace transport
