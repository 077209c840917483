// [dtls] in the running gateway: builds the DTLS transport from the configuration, hands its
// datagrams (with the peer identity) to the runtime, applies [admission] networks to handshakes,
// reloads the PSK file on SIGHUP and reports its counters for the status JSON.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "gateway/admission/admission.hpp"
#include "gateway/runtime/runtime.hpp"
#include "gateway/service/config.hpp"
#include "transports/dtls/dtls_transport.hpp"

namespace gw {

class DtlsService {
 public:
  DtlsService(uv_loop_t* loop, Runtime& runtime) : loop_(loop), runtime_(runtime) {}

  // Starts listening when dtls.enabled (and adds the transport to the runtime). Error text.
  std::string start(const Config& config);
  // SIGHUP: the PSK keys read from psk_file (new handshakes use them) and [admission] networks.
  void reload(const Config& fresh);
  void close();  // the transport and the timer are closed once the loop has run their callbacks
  // `, "dtls": {...}` for the status JSON; "" when DTLS is off.
  std::string status_json() const;
  const transport::DtlsTransport* transport() const noexcept { return transport_.get(); }

 private:
  uv_loop_t* loop_;
  Runtime& runtime_;
  void expire_ended();

  std::unique_ptr<transport::DtlsTransport> transport_;
  // Forgets DTLS peers whose MQTT-SN session has ended (see expire_ended()).
  uv_timer_t expiry_timer_{};
  bool timer_open_ = false;
  Admission admission_;
};

}  // namespace gw
