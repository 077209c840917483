#include "broker_clients.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

Collector::Collector(const std::string& uri, const std::string& client_id)
    : client_(uri, client_id) {}

Collector::~Collector() {
  if (raw_fd_ >= 0) {
    shutdown(raw_fd_, SHUT_RDWR);
    if (raw_thread_.joinable()) raw_thread_.join();
    close(raw_fd_);
  }
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
  count(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                      payload.size()),
        now);
}

std::string Collector::start_raw(std::uint16_t port, const std::string& filter, int qos) {
  raw_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (raw_fd_ < 0 || ::connect(raw_fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    return "raw subscriber: cannot connect";
  }
  const std::string id = "bench-rawsub-" + std::to_string(getpid());
  std::vector<std::uint8_t> connect{
      0x10, static_cast<std::uint8_t>(10 + 2 + id.size()), 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0,
      0,    static_cast<std::uint8_t>(id.size())};
  connect.insert(connect.end(), id.begin(), id.end());
  std::vector<std::uint8_t> subscribe{0x82, static_cast<std::uint8_t>(2 + 2 + filter.size() + 1),
                                      0,    1,
                                      0,    static_cast<std::uint8_t>(filter.size())};
  subscribe.insert(subscribe.end(), filter.begin(), filter.end());
  subscribe.push_back(static_cast<std::uint8_t>(qos));
  std::uint8_t connack[4] = {};
  timeval tv{5, 0};
  setsockopt(raw_fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::write(raw_fd_, connect.data(), connect.size()) != static_cast<ssize_t>(connect.size()) ||
      ::read(raw_fd_, connack, 4) != 4 || connack[0] != 0x20 || connack[3] != 0 ||
      ::write(raw_fd_, subscribe.data(), subscribe.size()) !=
          static_cast<ssize_t>(subscribe.size())) {
    return "raw subscriber: MQTT connect/subscribe failed";
  }
  tv = timeval{0, 0};
  setsockopt(raw_fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  raw_thread_ = std::thread([this] { raw_loop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // SUBACK
  return {};
}

// Reads the MQTT stream: counts PUBLISH payloads, acknowledges QoS 1, ignores the rest.
void Collector::raw_loop() {
  std::vector<std::uint8_t> in;
  std::vector<std::uint8_t> acks;
  std::vector<std::uint8_t> chunk(256 * 1024);
  for (;;) {
    const ssize_t got = ::read(raw_fd_, chunk.data(), chunk.size());
    if (got <= 0) return;
    const auto now = now_ns();
    in.insert(in.end(), chunk.begin(), chunk.begin() + got);
    std::size_t at = 0;
    acks.clear();
    while (in.size() - at >= 2) {
      std::size_t length = 0;
      std::size_t k = at + 1;
      unsigned shift = 0;
      bool complete = false;
      while (k < in.size() && shift <= 21) {
        length |= static_cast<std::size_t>(in[k] & 0x7F) << shift;
        shift += 7;
        if ((in[k++] & 0x80) == 0) {
          complete = true;
          break;
        }
      }
      if (!complete || in.size() - k < length) break;
      const std::uint8_t header = in[at];
      if ((header >> 4) == 3 && length >= 2) {
        const int q = (header >> 1) & 3;
        const std::size_t topic_len = (std::size_t{in[k]} << 8) | in[k + 1];
        std::size_t body = k + 2 + topic_len;
        if (q > 0) {
          acks.insert(acks.end(), {0x40, 0x02, in[body], in[body + 1]});
          body += 2;
        }
        count(std::span<const std::uint8_t>(in.data() + body, k + length - body), now);
      }
      at = k + length;
    }
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(at));
    if (!acks.empty() && ::write(raw_fd_, acks.data(), acks.size()) < 0) return;
  }
}

void Collector::count(std::span<const std::uint8_t> payload, std::int64_t now) {
  const auto stamp = read_stamp(payload);
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

Publishers::Publishers(const std::string& uri, std::size_t count, const std::string& id_prefix)
    : inflight_(std::make_unique<std::atomic<std::uint32_t>[]>(count)) {
  clients_.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    clients_.push_back(std::make_unique<mqtt::async_client>(uri, id_prefix + std::to_string(i)));
    callbacks_.push_back(std::make_unique<Acks>());
    callbacks_.back()->owner = this;
    callbacks_.back()->index = i;
    clients_.back()->set_callback(*callbacks_.back());
    inflight_[i].store(0);
  }
}

namespace {
// Paho C++ 1.2.0 calls delivery_complete() from inside publish() when the C library refused the
// message (async_client::publish -> remove_token, which "completes" every QoS 1/2 delivery token
// it removes): that is a refusal, not a PUBACK. Real acks arrive on Paho's own threads.
thread_local bool in_publish = false;
}  // namespace

void Publishers::Acks::delivery_complete(mqtt::delivery_token_ptr tok) {
  if (in_publish) return;
  const auto msg = tok ? tok->get_message() : nullptr;
  if (msg == nullptr || msg->get_qos() == 0) return;
  auto& inflight = owner->inflight_[index];
  auto n = inflight.load();
  while (n > 0 && !inflight.compare_exchange_weak(n, n - 1)) {
  }
  const auto& payload = msg->get_payload_ref();
  const auto stamp = read_stamp(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  if (stamp && stamp->phase == owner->phase_.load()) {
    owner->acked_.fetch_add(1);
  } else {
    owner->late_acks_.fetch_add(1);
  }
}

Publishers::~Publishers() {
  disconnect();
}

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

std::vector<std::int64_t> Publishers::connect_timed(int timeout_ms,
                                                    const std::function<void()>& after_issue) {
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
                         std::size_t size, int qos, std::uint32_t window) {
  if (qos > 0 && window > 0 && inflight_[i].load() >= window) return false;
  if (qos > 0) inflight_[i].fetch_add(1);
  in_publish = true;
  try {
    clients_[i]->publish(topic, data, size, qos, false);
    in_publish = false;
    return true;
  } catch (const mqtt::exception& e) {
    in_publish = false;
    if (qos > 0) inflight_[i].fetch_sub(1);
    ++failed_;
    last_error_ = e.get_return_code();
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
