#include "gateway/service/dtls_service.hpp"

#include <spdlog/spdlog.h>

#include <unordered_set>

namespace gw {

namespace {
constexpr std::uint64_t kExpiryPeriodMs = 10'000;
// A peer without a session is kept this long after its last record (its CONNECT may be on the way).
constexpr std::uint64_t kSessionlessGraceMs = 60'000;
}  // namespace

std::string DtlsService::start(const Config& config) {
  const DtlsSection& d = config.dtls;
  if (!d.enabled) return {};
  transport_ = std::make_unique<transport::DtlsTransport>(
      loop_,
      [this](const transport::PeerAddress& from, std::string_view identity,
             std::span<const std::uint8_t> bytes) { runtime_.on_datagram(from, bytes, identity); });
  admission_ = Admission(config.admission.client_ids, config.admission.networks);
  transport_->set_admit(
      [this](const transport::PeerAddress& p) { return admission_.allows_peer(p); });
  transport::DtlsOptions o;
  o.listen = d.listen;
  o.receive_buffer_bytes = static_cast<std::size_t>(config.udp.receive_buffer_bytes);
  o.cert_file = d.cert_file;
  o.key_file = d.key_file;
  o.ca_file = d.ca_file;
  o.require_certificate = d.require_certificate;
  o.max_handshakes = static_cast<std::size_t>(d.max_handshakes);
  o.max_peers = static_cast<std::size_t>(d.max_peers);
  o.idle_timeout = std::chrono::seconds(d.idle_timeout_s);
  o.handshake_timeout = std::chrono::seconds(d.handshake_timeout_s);
  runtime_.add_transport(*transport_);
  uv_timer_init(loop_, &expiry_timer_);
  expiry_timer_.data = this;
  timer_open_ = true;
  uv_timer_start(
      &expiry_timer_, [](uv_timer_t* t) { static_cast<DtlsService*>(t->data)->expire_ended(); },
      kExpiryPeriodMs, kExpiryPeriodMs);
  std::string error = transport_->start(o, d.psk_keys);
  if (!error.empty()) return error;
  for (const auto& a : transport_->local_addresses())
    spdlog::info("listening on dtls {} ({} PSK identities{})", a, d.psk_keys.size(),
                 d.cert_file.empty() ? "" : ", certificate " + d.cert_file);
  return {};
}

void DtlsService::reload(const Config& fresh) {
  if (!transport_) return;
  admission_ = Admission(fresh.admission.client_ids, fresh.admission.networks);
  transport_->set_psk_keys(fresh.dtls.psk_keys);
  spdlog::info("reload: dtls.psk_file: {} identities for new handshakes",
               fresh.dtls.psk_keys.size());
}

void DtlsService::close() {
  if (timer_open_) {
    timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&expiry_timer_), nullptr);
  }
  if (transport_) transport_->close();
}

// A DTLS peer lives as long as its MQTT-SN session: once the session has ended (DISCONNECT, lost,
// taken over) and the peer has been silent for a while, the DTLS state goes too. Sleeping
// sensors keep theirs (their session lives on); dtls.idle_timeout_s stays the upper bound.
void DtlsService::expire_ended() {
  std::unordered_set<std::string> live;
  for (const SensorView& s : ServiceHooks::sensors(runtime_))
    if (s.transport == transport::Kind::Dtls)
      live.insert(s.address.substr(0, s.address.find(' ')));  // without " node ..."
  const std::size_t n = transport_->expire(
      std::chrono::milliseconds(kSessionlessGraceMs),
      [&](const transport::PeerAddress& a) { return !live.contains(transport::to_string(a)); });
  if (n > 0) spdlog::debug("dtls: {} peers forgotten with their ended sessions", n);
}

std::string DtlsService::status_json() const {
  if (!transport_) return {};
  const auto& c = transport_->counters();
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  return ", \"dtls\": {\"peers\": " + n(transport_->peers()) +
         ", \"handshaking\": " + n(transport_->handshaking()) +
         ", \"handshakes_done\": " + n(c.handshakes_done) +
         ", \"handshakes_failed\": " + n(c.handshakes_failed) +
         ", \"identity_mismatches\": " + n(runtime_.counters().refused_identity) +
         ", \"hello_verify\": " + n(c.hello_verify) + ", \"not_dtls\": " + n(c.not_dtls) +
         ", \"handshake_cap\": " + n(c.handshake_cap) + ", \"peer_cap\": " + n(c.peer_cap) +
         ", \"not_admitted\": " + n(c.not_admitted) + ", \"bad_records\": " + n(c.bad_records) +
         ", \"idle_expired\": " + n(c.idle_expired) + ", \"session_ended\": " + n(c.session_ended) +
         "}";
}

}  // namespace gw
