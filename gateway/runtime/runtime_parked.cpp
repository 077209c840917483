// Runtime, aggregating mode: what a broker keeps for a persistent session, kept by the gateway.
// Messages for a parked CleanSession=false session go into its buffer; sessions restored from the
// state store hold their subscriptions on the shared link again before it first connects.
#include <spdlog/spdlog.h>

#include "gateway/runtime/runtime.hpp"
#include "gateway/upstream/aggregator.hpp"
#include "mqttsn/print.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

void Runtime::hold_for_parked(const std::string& client_id, const ev::UpstreamMessage& m) {
  auto it = table_.parked().find(client_id);
  if (it == table_.parked().end()) {
    // Its subscriptions were kept on the link but the session was not (it was lost, not
    // DISCONNECTed, or the runtime's cap or expiry took it first).
    ++counters_.parked_not_kept;
    util::log_limited("parked dropped", spdlog::level::debug,
                      "message on '{}' for parked ClientId {} dropped: no session kept for it",
                      mqttsn::printable(m.topic), mqttsn::printable(client_id));
    return;
  }
  Entry& e = *it->second;
  for (const Action& a : e.session.on_parked_message(m, now_())) {
    if (const auto* log = std::get_if<act::Log>(&a))
      util::log_limited("session protocol",
                        log->level == LogLevel::Debug ? spdlog::level::debug : spdlog::level::warn,
                        "parked session {}: {}", mqttsn::printable(client_id), log->text);
  }
  if (e.session.revision() != e.stored_revision) {
    e.stored_revision = e.session.revision();
    note_changed(client_id);
  }
}

void Runtime::hold_restored(const Entry& e, const SessionSnapshot& s, bool parked) {
  if (!aggregator_) return;
  if (parked)
    aggregator_->restore_parked(e.client_id, s.subscriptions, e.parked_at);
  else
    aggregator_->restore_live(e.id, s.subscriptions);
}

bool Runtime::persistent_link() const noexcept {
  return options_.aggregating && options_.persistent_link;
}

}  // namespace gw
