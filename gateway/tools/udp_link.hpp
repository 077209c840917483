// A blocking UDP link to one gateway: sends and receives whole MQTT-SN frames.
// The socket is connect()ed, so only the gateway's datagrams arrive and an ICMP
// "port unreachable" shows up as ECONNREFUSED, which we report to the operator.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "gateway/tools/dtls_client.hpp"
#include "mqttsn/messages.hpp"

namespace mqttsn::tools {

using Clock = std::chrono::steady_clock;

class UdpLink {
 public:
  // Resolves host:port and opens the socket. Throws ToolError with a clear message.
  UdpLink(const std::string& host, std::uint16_t port);
  ~UdpLink();
  // From now on frames go in DTLS records: handshakes first (until `deadline`). Throws ToolError.
  void start_dtls(const DtlsClientOptions& options, Clock::time_point deadline);
  UdpLink(const UdpLink&) = delete;
  UdpLink& operator=(const UdpLink&) = delete;

  // Encodes and sends one frame. Throws ToolError if the frame cannot be encoded or sent.
  void send(const Message& m);
  // Waits until `deadline` for one well-formed frame. nullopt on timeout or when a signal
  // interrupted the wait. Malformed datagrams are reported on stderr and skipped.
  std::optional<Message> receive(Clock::time_point deadline);

  // Turns on "-d" tracing of every frame, labelled with the client id.
  void set_trace(std::string client_id) { trace_id_ = std::move(client_id); }
  // "host:port" (or "[v6]:port") as the operator typed it, for messages.
  const std::string& peer() const noexcept { return peer_; }
  // Whether the gateway's port was reported unreachable since the last successful receive.
  bool refused() const noexcept { return refused_; }
  Clock::time_point last_send() const noexcept { return last_send_; }

 private:
  void trace(const char* verb, const Message& m) const;
  std::optional<Message> decoded(std::span<const std::uint8_t> datagram);

  int fd_ = -1;
  std::string peer_;
  std::optional<std::string> trace_id_;
  bool refused_ = false;
  Clock::time_point last_send_{};
  std::unique_ptr<DtlsClient> dtls_;  // set: DTLS on top of the socket
};

}  // namespace mqttsn::tools
