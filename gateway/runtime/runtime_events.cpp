// Runtime, events and time: the mailbox (upstream events of the sessions and of the shared
// gateway client), the shared client's own life, the deadline queue, and parked-session expiry.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "gateway/runtime/runtime.hpp"
#include "gateway/upstream/aggregator.hpp"
#include "mqttsn/codec.hpp"
#include "transports/log/limited_log.hpp"

namespace gw {

// ---------------------------------------------------------------- deadlines

void Runtime::reschedule(Entry& e) {
  const auto next = e.session.next_deadline();
  // Every packet moves the keep-alive deadline later. The earlier entry already queued stays: when
  // it fires, on_timer finds nothing due and the deadline is queued again. So the per-packet path
  // pushes nothing onto the heap (one push per keep-alive period instead).
  if (next == e.scheduled || (next && e.scheduled && *next > *e.scheduled)) return;
  e.scheduled = next;
  if (!next) return;
  deadlines_.push(*next, e.id, stopping_);
  if (deadlines_.needs_rebuild(table_.size())) {
    std::vector<DeadlineQueue::Deadline> live;
    for (const auto& [id, entry] : table_.live())
      if (entry->scheduled) live.push_back({*entry->scheduled, id});
    deadlines_.rebuild(live);
  }
}

void Runtime::run_deadlines(TimePoint now) {
  while (!stopping_) {
    const auto d = deadlines_.pop_due(now);
    if (!d) break;
    Entry* e = table_.find(d->session_id);
    if (e == nullptr || e->scheduled != d->when) continue;  // stale
    e->scheduled.reset();
    const auto id = e->id;
    const bool awaiting = e->session.awaiting_upstream();
    const bool queued = !aggregator_ && !gate_.in_flight(id);
    carry_out(*e, e->session.on_timer(now), now);
    if (awaiting) count_connect_refusal(id, queued);
  }
  deadlines_.rearm(stopping_);
}

// ---------------------------------------------------------------- parked sessions

void Runtime::park(std::unique_ptr<Entry> entry, TimePoint now) {
  note_changed(entry->client_id);
  if (options_.parked_session_expiry.count() <= 0 || options_.max_parked_sessions == 0) return;
  table_.unpark(entry->client_id);  // not expected: a parked ClientId is unparked by its CONNECT
  // The cap bounds memory whatever the expiry: the oldest parked session makes room.
  while (table_.parked().size() >= options_.max_parked_sessions && table_.oldest_parked()) {
    ++counters_.parked_expired;
    note_changed(table_.drop_oldest_parked());
  }
  table_.park(std::move(entry), now);
  arm_parked_timer();
}

void Runtime::expire_parked(TimePoint now) {
  std::size_t expired = 0;
  for (auto oldest = table_.oldest_parked();
       oldest && now - oldest->first >= options_.parked_session_expiry;
       oldest = table_.oldest_parked()) {
    note_changed(table_.drop_oldest_parked());
    ++expired;
  }
  counters_.parked_expired += expired;
  if (expired > 0)
    spdlog::debug("{} parked sessions expired, {} kept", expired, table_.parked().size());
  arm_parked_timer();
}

void Runtime::arm_parked_timer() {
  const auto oldest = table_.oldest_parked();
  if (stopping_ || !oldest) {
    parked_timer_.stop();
    return;
  }
  const TimePoint when = oldest->first + options_.parked_session_expiry;
  parked_timer_.start(ms_until(when, now_()) + 1);
}

// ---------------------------------------------------------------- upstream events

void Runtime::on_mailbox(MailboxEvent&& event) {
  if (event.session_id == 0) {
    on_gateway_event(std::move(event));
    return;
  }
  if (const auto* closed = std::get_if<UpstreamClosed>(&event.what)) {
    if (pool_.closed(event.session_id, closed->client)) {
      maybe_finish_stop();
      return;
    }
    // The session's own client (a reconnect): destroyed now unless it reconnects.
    if (Entry* e = table_.find(event.session_id);
        e != nullptr && e->upstream &&
        (closed->client == 0 || closed->client == e->upstream->serial())) {
      if (!e->upstream->after_closed()) e->upstream.reset();
    }
    return;
  }
  Entry* e = table_.find(event.session_id);
  if (e == nullptr || stopping_) return;  // the session ended: nobody wants it
  const auto now = now_();
  auto& upstream_event = std::get<UpstreamEvent>(event.what);
  if (const auto* pf = std::get_if<ev::UpstreamPublishFailed>(&upstream_event); pf && !pf->token) {
    if (pf->queue_full) {
      count_queue_full();
      return;
    }
    ++(pf->link_down ? counters_.link_down : counters_.upstream_refused);
    util::log_limited("qos 0 dropped", spdlog::level::warn, "session {}: QoS 0 PUBLISH dropped: {}",
                      describe(*e), pf->link_down ? "shared link down" : "upstream not connected");
    return;
  }
  if (const auto* f = std::get_if<ev::UpstreamConnectFailed>(&upstream_event)) {
    ++counters_.upstream_connect_failures;
    util::log_limited("upstream connect failed", spdlog::level::warn,
                      "session {}: upstream connect failed: {}", describe(*e), f->reason);
  } else if (const auto* l = std::get_if<ev::UpstreamLost>(&upstream_event)) {
    ++counters_.upstream_losses;
    util::log_limited("upstream lost", spdlog::level::warn, "session {}: upstream lost: {}",
                      describe(*e), l->reason);
  } else if (std::holds_alternative<ev::UpstreamConnected>(upstream_event)) {
    ++counters_.upstream_connects;
    util::log_limited("session event", spdlog::level::debug, "session {}: upstream connected",
                      describe(*e));
  }
  const auto id = e->id;
  const bool awaiting = e->session.awaiting_upstream();
  carry_out(*e, e->session.on_upstream(upstream_event, now), now);
  track_upstream(id, upstream_event, awaiting, now);  // runtime_connects.cpp
}

void Runtime::on_gateway_event(MailboxEvent&& event) {
  if (std::holds_alternative<UpstreamClosed>(event.what)) {
    if (stopping_ && gateway_client_) {
      gateway_client_.reset();  // its disconnect completed: its last callback
      maybe_finish_stop();
    }
    return;
  }
  if (stopping_) return;
  const auto& e = std::get<UpstreamEvent>(event.what);
  if (const auto* pf = std::get_if<ev::UpstreamPublishFailed>(&e); pf && !pf->token) {
    // A QoS 0 publish of the shared client (QoS -1, aggregating mode).
    if (pf->queue_full)
      count_queue_full();
    else
      ++counters_.upstream_refused;
    return;
  }
  if (std::holds_alternative<ev::UpstreamConnected>(e) ||
      std::holds_alternative<ev::UpstreamConnectFailed>(e))
    pool_.connect_finished(0);
  if (std::holds_alternative<ev::UpstreamConnected>(e)) {
    ++counters_.broker_connects;
    broker_up_ = true;
    broker_down_logged_ = false;
    spdlog::info("broker {} reachable (gateway client {})", options_.upstream.uri,
                 options_.gateway_client_id);
    advertise();
    release_reconnects();
  } else if (const auto* f = std::get_if<ev::UpstreamConnectFailed>(&e)) {
    // Warn once per outage; the retries every few seconds are debug noise.
    spdlog::log(broker_up_ || !broker_down_logged_ ? spdlog::level::warn : spdlog::level::debug,
                "broker {} unreachable: {}; retrying", options_.upstream.uri, f->reason);
    broker_down_logged_ = true;
    broker_up_ = false;
    // The probe: until the broker answers, one connect attempt every reconnect_min.
    gateway_retry_timer_.start(static_cast<std::uint64_t>(options_.upstream.reconnect_min.count()));
  } else if (const auto* l = std::get_if<ev::UpstreamLost>(&e)) {
    ++counters_.broker_losses;
    broker_up_ = false;
    spdlog::warn("broker {} connection lost: {}", options_.upstream.uri, l->reason);
    gateway_retry_timer_.start(static_cast<std::uint64_t>(options_.upstream.reconnect_min.count()));
  }
  // Aggregating mode: the sensors' traffic on the shared link (tokens 0 are the runtime's own).
  if (aggregator_) aggregator_->on_link_event(e);
}

// The one drop point of QoS 0 uplink past what Paho can write (broker.max_queued_publishes).
void Runtime::count_queue_full() {
  ++counters_.upstream_queue_full;
  util::log_limited("qos 0 dropped", spdlog::level::warn,
                    "QoS 0 PUBLISH dropped: {} publishes already queued for the broker "
                    "(broker.max_queued_publishes; {} dropped so far)",
                    options_.upstream.security.shared_max_queued, counters_.upstream_queue_full);
}

void Runtime::advertise() {
  if (!broker_up_ || stopping_) return;
  const auto seconds = std::min<std::int64_t>(options_.advertise_interval.count(), 65535);
  const mqttsn::Bytes bytes =
      mqttsn::encode(mqttsn::Advertise{options_.gw_id, static_cast<std::uint16_t>(seconds)});
  for (auto* t : transports_)
    if (t != nullptr) t->broadcast(bytes);
}

// The shared gateway client's (re)connect: its will is the offline status; its session is clean
// but in aggregating mode with broker.persistent_link (runtime_parked.cpp).
void Runtime::connect_gateway_client() {
  pool_.connect_started(0);  // the probe's connect ends Paho's wait at once too
  gateway_client_->connect(!persistent_link(), 60, options_.gateway_will);
}

// With Paho clients: the waker of Paho's receive thread, for sensors' connects (transparent mode)
// and the gateway client's own (the broker probe, both modes).
void Runtime::start_waker() {
  if (!upstreams_->paho()) return;
  waker_ = std::make_unique<PahoWaker>(loop_);
  if (Status s = waker_->start(); !s)
    spdlog::warn("upstream connect wake-up unavailable ({}): connects take up to 2 s longer",
                 s.error());
}

// While upstream CONNECTs are under way (UpstreamPool::connect_started()).
void Runtime::wake_upstream() {
  if (waker_) waker_->wake();
}

}  // namespace gw
