// Runtime, sensors' upstream connects (transparent mode): at most broker.max_connects_in_flight
// under way at once, the rest waiting first come first served (ConnectGate); lost connections
// tried again by the ReconnectPlan: at once when the broker is reachable again (the gateway's own
// client is its probe), with back-off when the broker drops one client while it is up.
// docs/design.md "Connect storms and broker outages".
#include <spdlog/spdlog.h>

#include <utility>

#include "gateway/core/overloaded.hpp"
#include "gateway/runtime/runtime.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

namespace {
// A connect slot held this much longer than the connect timeout (a connect that never reported)
// is given back.
constexpr auto kStaleConnectMargin = std::chrono::seconds(2);
}  // namespace

void Runtime::request_upstream(Entry& e, UpstreamJob job) {
  if (aggregator_) {  // the shared link is already there: nothing to bound
    start_upstream(e, std::move(job));
    return;
  }
  const bool retry = std::holds_alternative<RetryUpstream>(job);
  const auto now = now_();
  switch (gate_.request(e.id, now)) {
    case ConnectGate::Admit::Start:
      start_upstream(e, std::move(job));
      return;
    case ConnectGate::Admit::Wait:
      queued_jobs_.insert_or_assign(e.id, std::move(job));
      // A slot held by a connect that never reported is given back (it should not happen).
      if (!gate_.reclaim(now - options_.upstream.connect_timeout - kStaleConnectMargin).empty())
        start_queued_connects();
      return;
    case ConnectGate::Admit::Already:
      // A repeated connect of the same session opens no second connection; a new will (a
      // reconnect the session asked for) replaces a queued retry or follows the one under way.
      if (retry) return;
      if (gate_.waiting(e.id))
        queued_jobs_.insert_or_assign(e.id, std::move(job));
      else
        start_upstream(e, std::move(job));
      return;
  }
}

void Runtime::start_upstream(Entry& e, UpstreamJob job) {
  if (!aggregator_) pool_.connect_started(e.id);
  std::visit(Overloaded{
                 [&](act::ConnectUpstream& a) {
                   if (e.upstream) {
                     e.upstream->restart(a.clean_session, a.keep_alive_s, a.will);
                     return;
                   }
                   auto opened = open_upstream(e, a);
                   if (!opened) {
                     util::log_limited("upstream connect failed", spdlog::level::warn,
                                       "session {}: upstream client refused: {}", describe(e),
                                       opened.error());
                     mailbox_.post(MailboxEvent{
                         e.id, UpstreamEvent{ev::UpstreamConnectFailed{opened.error()}}});
                     return;
                   }
                   e.upstream = std::move(opened).value();
                   e.upstream->connect(a.clean_session, a.keep_alive_s, a.will);
                 },
                 [&](act::ReconnectUpstream& a) {
                   if (e.upstream) e.upstream->reconnect(a.will);
                 },
                 [&](RetryUpstream&) {
                   if (!e.upstream) {
                     upstream_connect_over(e.id);
                     return;
                   }
                   ++counters_.upstream_retries;
                   e.upstream->retry();
                 },
             },
             job);
}

// The connect of session `id` is over (connected, failed) or no longer wanted (session ended,
// upstream retired): its slot goes to the next one waiting.
void Runtime::upstream_connect_over(std::uint64_t id) {
  pool_.connect_finished(id);
  if (aggregator_) return;
  queued_jobs_.erase(id);
  if (!gate_.in_flight(id) && !gate_.waiting(id)) return;
  gate_.done(id);
  start_queued_connects();
}

void Runtime::start_queued_connects() {
  if (stopping_) return;
  const auto now = now_();
  for (auto ids = gate_.take_startable(now); !ids.empty(); ids = gate_.take_startable(now)) {
    for (const auto id : ids) {
      auto it = queued_jobs_.find(id);
      Entry* e = table_.find(id);
      // A CONNECT whose deadline has passed is answered 0x01 by its timer: no connect for it.
      const bool expired =
          e != nullptr && e->session.awaiting_upstream() && e->scheduled && *e->scheduled <= now;
      if (it == queued_jobs_.end() || e == nullptr || expired) {
        if (it != queued_jobs_.end()) queued_jobs_.erase(it);
        gate_.done(id);  // nothing to start: the slot goes to the next
        continue;
      }
      UpstreamJob job = std::move(it->second);
      queued_jobs_.erase(it);
      start_upstream(*e, std::move(job));
    }
  }
}

// After a sensor's upstream event was carried out: the gate and the reconnect plan follow it.
void Runtime::track_upstream(std::uint64_t id, const UpstreamEvent& event, bool was_awaiting,
                             TimePoint now) {
  const bool connected = std::holds_alternative<ev::UpstreamConnected>(event);
  const auto* failed = std::get_if<ev::UpstreamConnectFailed>(&event);
  const auto* lost = std::get_if<ev::UpstreamLost>(&event);
  if (connected || failed) upstream_connect_over(id);
  Entry* e = table_.find(id);
  if (failed && was_awaiting && e == nullptr) ++counters_.connack_upstream_failed;
  if (aggregator_ || e == nullptr || stopping_) return;
  if (connected) {
    reconnects_.connected(id, now);
  } else if ((failed && !failed->permanent) || (lost && !lost->taken_over)) {
    if (e->session.awaiting_upstream()) return;  // its CONNECT is answered on its own
    reconnects_.lost(id, now, broker_up_);
    arm_reconnect_timer();
  }
}

// A session that was waiting for its upstream and ended on its deadline: CONNACK 0x01, counted by
// where it waited (`was_queued`: no connect of it was under way).
void Runtime::count_connect_refusal(std::uint64_t id, bool was_queued) {
  if (table_.find(id) != nullptr) return;
  ++(was_queued ? counters_.connack_queue_timeout : counters_.connack_connect_timeout);
}

// The gateway's own client connected: the broker is reachable; every lost sensor connection is
// tried now (through the gate), its back-off restarted from the minimum.
void Runtime::release_reconnects() {
  if (aggregator_ || stopping_) return;
  const auto ids = reconnects_.broker_back();
  if (!ids.empty())
    spdlog::info("broker reachable: reconnecting {} sensor upstream connections", ids.size());
  for (const auto id : ids)
    if (Entry* e = table_.find(id)) request_upstream(*e, RetryUpstream{});
  arm_reconnect_timer();
}

void Runtime::run_reconnects() {
  if (stopping_) return;
  for (const auto id : reconnects_.due(now_(), broker_up_))
    if (Entry* e = table_.find(id)) request_upstream(*e, RetryUpstream{});
  arm_reconnect_timer();
}

void Runtime::arm_reconnect_timer() {
  const auto next = reconnects_.next_due();
  if (!next || stopping_) {
    reconnect_timer_.stop();
    return;
  }
  reconnect_timer_.start(ms_until(*next, now_()));
}

}  // namespace gw
