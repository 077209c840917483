// Runtime: the composition root. Wires the parts (session table, deadline queue, upstream pool,
// mailbox, the shared gateway client, the store), starts them and stops them in order.
#include "gateway/runtime/runtime.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "gateway/upstream/aggregator.hpp"

namespace gw {

Runtime::Runtime(uv_loop_t* loop, RuntimeOptions options,
                 std::unique_ptr<UpstreamFactory> upstreams)
    : loop_(loop),
      options_(std::move(options)),
      now_(options_.clock ? options_.clock : std::function<TimePoint()>(&Clock::now)),
      upstreams_(upstreams ? std::move(upstreams)
                           : std::make_unique<PahoUpstreamFactory>(options_.upstream)),
      mailbox_(loop, [this](MailboxEvent&& e) { on_mailbox(std::move(e)); }),
      advertise_timer_(loop, [this] { advertise(); }),
      gateway_retry_timer_(loop,
                           [this] {
                             if (gateway_client_ && !stopping_) connect_gateway_client();
                           }),
      stop_timer_(loop, [this] { finish_stop(); }),
      parked_timer_(loop, [this] { expire_parked(now_()); }),
      store_check_(loop, [this] { flush_store(); }),
      deadlines_(loop, now_, [this] { run_deadlines(now_()); }),
      pool_(
          loop, now_, [this] { wake_upstream(); }, options_.upstream.connect_timeout),
      gate_(options_.upstream.max_connects_in_flight),
      reconnects_(options_.upstream.reconnect_min, options_.upstream.reconnect_max),
      reconnect_timer_(loop, [this] { run_reconnects(); }) {
  // Every CONNECT is answered within the connect timeout, waiting for a connect slot included.
  if (options_.session.connect_timeout.count() == 0)
    options_.session.connect_timeout = options_.upstream.connect_timeout;
  if (options_.gateway_client_id.empty())
    options_.gateway_client_id = "mqttsn-gw-" + std::to_string(options_.gw_id);
  if (!options_.session.budget) options_.session.budget = std::make_shared<BufferBudget>();
  if (!options_.session.limit_counters)
    options_.session.limit_counters = std::make_shared<LimitCounters>();
  set_admission(std::move(options_.admission));
}

Runtime::~Runtime() = default;

void Runtime::add_transport(transport::Transport& t) {
  transports_[static_cast<std::size_t>(t.kind())] = &t;
}

std::string Runtime::start() {
  auto client = upstreams_->create(options_.gateway_client_id, 0, mailbox_);
  if (!client) return "broker.uri: " + client.error();
  gateway_client_ = std::move(client).value();
  if (options_.aggregating)
    aggregator_ =
        std::make_unique<Aggregator>(mailbox_, gateway_client_, options_.parked_session_expiry,
                                     options_.max_parked_sessions, now_);
  if (aggregator_)
    aggregator_->set_parked_sink(
        [this](const std::string& client_id, const ev::UpstreamMessage& m) {
          hold_for_parked(client_id, m);
        });
  start_waker();
  connect_gateway_client();
  if (Status s = open_store(); !s) return s.error();
  const auto period =
      static_cast<std::uint64_t>(std::chrono::milliseconds(options_.advertise_interval).count());
  advertise_timer_.start(period, period);
  return {};
}

void Runtime::tick() {
  const auto now = now_();
  run_deadlines(now);
  expire_parked(now);
  run_reconnects();
}

void Runtime::stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  on_stopped_ = std::move(done);
  deadlines_.stop();
  advertise_timer_.stop();
  gateway_retry_timer_.stop();
  parked_timer_.stop();
  reconnect_timer_.stop();
  queued_jobs_.clear();
  pool_.stop();
  if (aggregator_) aggregator_->stop();
  spdlog::info("stopping: {} sessions, disconnecting upstream", table_.size());
  flush_store();  // the sessions stay stored: they are restored at the next start
  store_check_.stop();
  for (const auto& [id, e] : table_.live())
    if (e->upstream) pool_.retire(id, std::move(e->upstream));
  table_.clear_live();
  if (gateway_client_) gateway_client_->disconnect(std::chrono::milliseconds(500));
  stop_timer_.start(static_cast<std::uint64_t>(options_.shutdown_timeout.count()));
  maybe_finish_stop();
}

void Runtime::maybe_finish_stop() {
  // The last clients closed (and are destroyed): finish on the next loop iteration.
  if (stopping_ && pool_.retiring_empty() && !gateway_client_) stop_timer_.start(0);
}

void Runtime::finish_stop() {
  if (stopped_) return;
  stopped_ = true;
  log_abandoned(pool_.clear(), gateway_client_ != nullptr, options_.shutdown_timeout);
  gateway_client_.reset();
  store_.reset();  // closes the database (checkpoints its WAL)
  mailbox_.close();
  auto group = CloseGroup::make([this] {
    if (on_stopped_) std::exchange(on_stopped_, {})();
  });
  CloseGroup::close(group, store_check_);
  CloseGroup::close(group, deadlines_.timer());
  CloseGroup::close(group, advertise_timer_);
  CloseGroup::close(group, gateway_retry_timer_);
  CloseGroup::close(group, stop_timer_);
  CloseGroup::close(group, parked_timer_);
  CloseGroup::close(group, reconnect_timer_);
  pool_.close(group);
  if (waker_) waker_->close(group);
}

}  // namespace gw
