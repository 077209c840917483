#include "gateway/tools/udp_link.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <span>
#include <variant>

#include "gateway/tools/tool_error.hpp"
#include "mqttsn/codec.hpp"
#include "mqttsn/print.hpp"

namespace mqttsn::tools {

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

int milliseconds_until(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left);  // re-check long waits every minute
}

}  // namespace

UdpLink::UdpLink(const std::string& host, std::uint16_t port)
    : peer_((host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
            std::to_string(port)) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw ToolError("cannot resolve gateway host '" + host + "': " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = errno_text(errno);
      continue;
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    last_error = errno_text(errno);
    close(fd);
  }
  freeaddrinfo(found);
  if (fd_ < 0) throw ToolError("cannot open a UDP socket to " + peer_ + ": " + last_error);
}

UdpLink::~UdpLink() {
  dtls_.reset();  // its close_notify needs the socket
  if (fd_ >= 0) close(fd_);
}

void UdpLink::start_dtls(const DtlsClientOptions& options, Clock::time_point deadline) {
  dtls_ = std::make_unique<DtlsClient>(fd_, options, peer_, deadline);
}

std::optional<Message> UdpLink::decoded(std::span<const std::uint8_t> datagram) {
  DecodeResult result = decode(datagram);
  if (auto* failure = std::get_if<DecodeFailure>(&result)) {
    std::cerr << "Warning: ignoring malformed datagram (" << datagram.size() << " bytes) from "
              << peer_ << ": " << to_string(*failure) << '\n';
    return std::nullopt;
  }
  Message m = std::get<Message>(std::move(result));
  trace("received", m);
  return m;
}

void UdpLink::send(const Message& m) {
  const Bytes frame = encode(m);
  if (frame.empty()) throw ToolError("message too large for one MQTT-SN frame");
  trace("sending", m);
  if (dtls_) {
    dtls_->write(frame);
    last_send_ = Clock::now();
    return;
  }
  // An earlier ICMP error can surface on send; the datagram is still worth sending once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const ssize_t n = ::send(fd_, frame.data(), frame.size(), 0);
    if (n == static_cast<ssize_t>(frame.size())) {
      last_send_ = Clock::now();
      return;
    }
    if (n < 0 && errno == ECONNREFUSED) {
      refused_ = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    throw ToolError("cannot send to gateway " + peer_ + ": " +
                    (n < 0 ? errno_text(errno) : std::string("short write")));
  }
  last_send_ = Clock::now();
}

std::optional<Message> UdpLink::receive(Clock::time_point deadline) {
  while (dtls_) {
    auto record = dtls_->read(deadline);
    if (!record) return std::nullopt;
    if (auto m = decoded(*record)) return m;
  }
  std::array<std::uint8_t, 65536> buffer{};
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, milliseconds_until(deadline));
    if (ready < 0) {
      if (errno == EINTR) return std::nullopt;  // the caller checks for a stop signal
      throw ToolError("poll failed: " + errno_text(errno));
    }
    if (ready == 0) {
      if (Clock::now() >= deadline) return std::nullopt;
      continue;
    }
    const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == ECONNREFUSED) {
        refused_ = true;
        continue;
      }
      if (errno == EINTR) return std::nullopt;
      throw ToolError("cannot receive from gateway " + peer_ + ": " + errno_text(errno));
    }
    refused_ = false;
    if (auto m = decoded({buffer.data(), static_cast<std::size_t>(n)})) return m;
  }
}

void UdpLink::trace(const char* verb, const Message& m) const {
  if (trace_id_) std::cerr << "Client " << *trace_id_ << ' ' << verb << ' ' << to_string(m) << '\n';
}

}  // namespace mqttsn::tools
