#include "broker_clients.hpp"

#include <chrono>
#include <cstdint>
#include <thread>

namespace bench {

namespace {
mqtt::connect_options options() {
  mqtt::connect_options o;
  o.set_clean_session(true);
  o.set_keep_alive_interval(std::chrono::seconds(120));
  o.set_max_inflight(65535);
  o.set_connect_timeout(std::chrono::seconds(20));
  return o;
}
}  // namespace

Collector::Collector(const std::string& uri, const std::string& client_id) : client_(uri, client_id) {}

Collector::~Collector() {
  try {
    if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
  }
}

std::string Collector::start(const std::string& filter, int qos) {
  client_.set_message_callback([this](mqtt::const_message_ptr m) { on_message(m); });
  try {
    client_.connect(options())->wait();
    client_.subscribe(filter, qos)->wait();
  } catch (const mqtt::exception& e) {
    return std::string("collector: ") + e.what();
  }
  return {};
}

void Collector::begin(std::uint32_t phase, std::size_t max_seq) {
  std::lock_guard lock(mutex_);
  phase_ = phase;
  seen_.assign(max_seq, 0);
  result_ = Result{};
  result_.latencies_ns.reserve(max_seq);
  received_.store(0);
}

Collector::Result Collector::finish() {
  std::lock_guard lock(mutex_);
  phase_ = 0;
  Result r = std::move(result_);
  result_ = Result{};
  return r;
}

void Collector::on_message(const mqtt::const_message_ptr& m) {
  const auto now = now_ns();
  const auto& payload = m->get_payload_ref();
  const auto stamp = read_stamp(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  std::lock_guard lock(mutex_);
  if (!stamp || stamp->phase != phase_ || phase_ == 0) {
    ++result_.stale;
    return;
  }
  if (stamp->seq >= seen_.size() || seen_[stamp->seq] != 0) {
    ++result_.duplicates;
    return;
  }
  seen_[stamp->seq] = 1;
  ++result_.received;
  result_.last_ns = now;
  received_.fetch_add(1);
  result_.latencies_ns.push_back(now - stamp->sent_ns);
}

Publishers::Publishers(const std::string& uri, std::size_t count, const std::string& id_prefix) {
  clients_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    clients_.push_back(std::make_unique<mqtt::async_client>(uri, id_prefix + std::to_string(i)));
    clients_.back()->set_callback(*this);
  }
}

Publishers::~Publishers() { disconnect(); }

std::string Publishers::connect() {
  try {
    std::vector<mqtt::token_ptr> tokens;
    tokens.reserve(clients_.size());
    for (auto& c : clients_) tokens.push_back(c->connect(options()));
    for (auto& t : tokens) t->wait();
  } catch (const mqtt::exception& e) {
    return std::string("direct publishers: ") + e.what();
  }
  return {};
}

namespace {
// Records when each connect completed (runs on Paho's thread).
class ConnectTimes : public mqtt::iaction_listener {
 public:
  explicit ConnectTimes(std::size_t n) : done_(n) {
    for (auto& d : done_) d.store(0);
  }
  std::vector<std::atomic<std::int64_t>> done_;

 private:
  void on_success(const mqtt::token& tok) override {
    done_[reinterpret_cast<std::uintptr_t>(tok.get_user_context())].store(now_ns());
  }
  void on_failure(const mqtt::token&) override {}
};
}  // namespace

std::vector<std::int64_t> Publishers::connect_timed(int timeout_ms, const std::function<void()>& after_issue) {
  ConnectTimes times(clients_.size());
  const auto start = now_ns();
  try {
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      clients_[i]->connect(options(), reinterpret_cast<void*>(i), times);
    }
  } catch (const mqtt::exception&) {
  }
  if (after_issue) after_issue();
  std::vector<std::int64_t> result(clients_.size(), 0);
  const auto deadline = start + std::int64_t{timeout_ms} * 1'000'000;
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    while (times.done_[i].load() == 0 && now_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const auto t = times.done_[i].load();
    result[i] = t == 0 ? 0 : t - start;
  }
  disconnect();  // before `times` goes away
  return result;
}

bool Publishers::publish(std::size_t i, const std::string& topic, const std::uint8_t* data,
                         std::size_t size, int qos) {
  try {
    clients_[i]->publish(topic, data, size, qos, false);
    return true;
  } catch (const mqtt::exception&) {
    ++failed_;
    return false;
  }
}

void Publishers::disconnect() {
  std::vector<mqtt::token_ptr> tokens;
  for (auto& c : clients_) {
    try {
      if (c->is_connected()) tokens.push_back(c->disconnect());
    } catch (const mqtt::exception&) {
    }
  }
  for (auto& t : tokens) {
    try {
      t->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
  }
  clients_.clear();
}

}  // namespace bench
