// The field tools' DTLS 1.2 client (mosquitto_pub's --psk-identity/--psk, --cafile/--cert/--key)
// over the tools' connected UDP socket: the handshake with retransmission up to a deadline, then
// one MQTT-SN frame per DTLS record.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace mqttsn::tools {

struct DtlsClientOptions {
  std::string psk_identity;
  std::string psk_hex;
  std::string cafile;  // verify the gateway's certificate against it
  std::string cert;    // client certificate and key (PEM)
  std::string key;
  bool enabled() const noexcept {
    return !psk_identity.empty() || !psk_hex.empty() || !cafile.empty() || !cert.empty() ||
           !key.empty();
  }
};

class DtlsClient {
 public:
  using Clock = std::chrono::steady_clock;
  // Handshakes over `fd` (a connected UDP socket, made non-blocking here) until `deadline`.
  // Throws ToolError with a clear message on failure.
  DtlsClient(int fd, const DtlsClientOptions& options, const std::string& peer,
             Clock::time_point deadline);
  ~DtlsClient();
  DtlsClient(const DtlsClient&) = delete;
  DtlsClient& operator=(const DtlsClient&) = delete;

  void write(std::span<const std::uint8_t> frame);
  // One record; nullopt at the deadline or when a signal interrupted the wait.
  std::optional<std::vector<std::uint8_t>> read(Clock::time_point deadline);

 private:
  static unsigned int psk_client(SSL* ssl, const char* hint, char* identity,
                                 unsigned int max_identity, unsigned char* psk,
                                 unsigned int max_psk);
  // Waits for the socket or the DTLS timer; false when `deadline` passed or a signal came.
  bool wait(Clock::time_point deadline);

  int fd_;
  std::string peer_;
  std::string identity_;
  std::vector<std::uint8_t> key_;
  struct CtxFree {
    void operator()(SSL_CTX* c) const noexcept;
  };
  struct SslFree {
    void operator()(SSL* s) const noexcept;
  };
  // Owned from the first line of the constructor, so a failed handshake (thrown) frees them.
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<SSL, SslFree> ssl_;
};

}  // namespace mqttsn::tools
