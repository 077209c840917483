// The DTLS transport's timers: handshake flights resent when DTLSv1_get_timeout says so, stale
// handshakes and idle peers dropped, the cookie secret rotated.
#include <algorithm>
#include <optional>

#include "transports/dtls/dtls_internal.hpp"

namespace transport {

namespace {
constexpr std::uint64_t kCookieRotationSweeps = 60;  // sweeps are 1 s apart
}  // namespace

void DtlsTransport::arm_retransmit() {
  if (!timers_open_) return;
  std::optional<std::uint64_t> soonest;
  for (const auto& [addr, p] : peers_) {
    if (p->established) continue;
    timeval tv{};
    if (DTLSv1_get_timeout(p->ssl.get(), &tv) != 1) continue;
    const auto ms = static_cast<std::uint64_t>(tv.tv_sec) * 1000u +
                    static_cast<std::uint64_t>(tv.tv_usec) / 1000u;
    soonest = std::min(soonest.value_or(ms), ms);
  }
  if (!soonest) {
    uv_timer_stop(&retransmit_timer_);
    return;
  }
  uv_timer_start(
      &retransmit_timer_,
      [](uv_timer_t* t) { static_cast<DtlsTransport*>(t->data)->on_retransmit(); }, *soonest, 0);
}

void DtlsTransport::on_retransmit() {
  std::vector<PeerAddress> due;
  for (const auto& [addr, p] : peers_) {
    if (p->established) continue;
    timeval tv{};
    if (DTLSv1_get_timeout(p->ssl.get(), &tv) == 1 && tv.tv_sec == 0 && tv.tv_usec < 1000)
      due.push_back(addr);
  }
  for (const auto& addr : due) {
    auto it = peers_.find(addr);
    if (it == peers_.end()) continue;
    // Resends the last flight (doubling the timeout); fails after too many.
    if (DTLSv1_handle_timeout(it->second->ssl.get()) < 0) {
      ++counters_.handshakes_timed_out;
      fail(*it->second, "no answer to the retransmitted flight");
    }
    ERR_clear_error();
  }
  arm_retransmit();
}

void DtlsTransport::sweep() {
  if (++sweeps_ % kCookieRotationSweeps == 0) cookies_.rotate();
  const std::uint64_t now = uv_now(loop_);
  const auto handshake_ms = static_cast<std::uint64_t>(options_.handshake_timeout.count()) * 1000u;
  const auto idle_ms = static_cast<std::uint64_t>(options_.idle_timeout.count()) * 1000u;
  std::vector<PeerAddress> stale;
  for (const auto& [addr, p] : peers_) {
    if (!p->established && now - p->started_ms > handshake_ms) {
      ++counters_.handshakes_timed_out;
      ++counters_.handshakes_failed;
      stale.push_back(addr);
    } else if (p->established && idle_ms != 0 && now - p->last_ms > idle_ms) {
      ++counters_.idle_expired;
      SSL_shutdown(p->ssl.get());  // close_notify: the sensor handshakes afresh
      ERR_clear_error();
      stale.push_back(addr);
    }
  }
  for (const auto& addr : stale) erase(addr);
}

std::size_t DtlsTransport::expire(std::chrono::milliseconds idle,
                                  const std::function<bool(const PeerAddress&)>& drop) {
  const std::uint64_t now = uv_now(loop_);
  const auto idle_ms = static_cast<std::uint64_t>(idle.count());
  std::vector<PeerAddress> gone;
  for (const auto& [addr, p] : peers_)
    if (p->established && now - p->last_ms >= idle_ms && drop(addr)) gone.push_back(addr);
  for (const auto& addr : gone) {
    SSL_shutdown(peers_.at(addr)->ssl.get());
    ERR_clear_error();
    erase(addr);
  }
  counters_.session_ended += gone.size();
  return gone.size();
}

}  // namespace transport
