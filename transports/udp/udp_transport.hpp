// UDP transport on libuv: several listening sockets (IPv4 and IPv6), datagrams in and out.
// Knows nothing of MQTT-SN: it hands (PeerAddress, bytes) to a ReceiveFn and sends bytes.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transports/peer_address.hpp"

namespace transport {

struct UdpOptions {
  // "0.0.0.0:1883", "[::]:1883", "127.0.0.1:0" (port 0: the kernel picks one).
  std::vector<std::string> listen{"0.0.0.0:1883", "[::]:1883"};
  // SO_RCVBUF asked for each socket; large so a burst of CONNECTs is not dropped by the kernel.
  std::size_t receive_buffer_bytes = 4u * 1024u * 1024u;
  // Destinations of broadcast() (ADVERTISE), e.g. "255.255.255.255:1883" or "[ff02::1]:1883".
  std::vector<std::string> advertise_to;
};

// Parses "a.b.c.d:port" or "[v6]:port" into a sockaddr (as a PeerAddress of kind Udp, endpoint 0).
std::optional<PeerAddress> parse_udp_address(std::string_view text);

struct UdpCounters {
  std::uint64_t received = 0;
  std::uint64_t truncated = 0;  // larger than the receive buffer: dropped
  std::uint64_t receive_errors = 0;
  std::uint64_t sent = 0;
  std::uint64_t send_errors = 0;
};

class UdpTransport final : public Transport {
 public:
  enum class LogLevel : std::uint8_t { Info, Warn };
  using LogFn = std::function<void(LogLevel, const std::string&)>;

  UdpTransport(uv_loop_t* loop, ReceiveFn on_receive, LogFn log = {});
  ~UdpTransport() override;
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  // Binds every listen address and starts receiving. Returns an error text (empty on success);
  // on error the sockets opened so far stay open until close().
  std::string start(const UdpOptions& options);
  // Stops receiving and closes the sockets; they are gone once the loop has run their close
  // callbacks.
  void close();
  bool closed() const noexcept { return open_handles_ == 0; }

  Kind kind() const noexcept override { return Kind::Udp; }
  void send(const PeerAddress& to, std::span<const std::uint8_t> bytes) override;
  void broadcast(std::span<const std::uint8_t> bytes) override;

  // The address each listening socket is bound to (the real port when 0 was asked for).
  std::vector<std::string> local_addresses() const;
  const UdpCounters& counters() const noexcept { return counters_; }

 private:
  struct Socket;
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags);
  static void on_closed(uv_handle_t* h);
  static void on_sent(uv_udp_send_t* req, int status);
  Socket* socket_for(const PeerAddress& to);
  void log(LogLevel level, const std::string& text) const;

  uv_loop_t* loop_;
  ReceiveFn on_receive_;
  LogFn log_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::vector<PeerAddress> advertise_to_;
  std::size_t open_handles_ = 0;
  UdpCounters counters_;
};

}  // namespace transport
