// The benchmark's own counts (`meson test -C <builddir> bench_counts`): a step with loss or skips
// is never a headline figure, and the direct clients count acks only for messages that were
// sent, within the sensors' window, against a real mosquitto.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "broker_clients.hpp"
#include "ladder.hpp"
#include "raw_mqtt.hpp"
#include "rig.hpp"

using namespace bench;

TEST_CASE("a lossy or skipping step is never the lossless figure") {
  Ladder l;
  l.push_back(judge(5000, 10000, 10000, 10000, 4999));
  l.push_back(judge(10000, 20000, 20000, 19000, 9500));   // 5 % lost
  l.push_back(judge(15000, 30000, 29000, 29000, 14500));  // 1000 skipped (full windows)
  CHECK(l[0].lossless);
  CHECK_FALSE(l[1].lossless);
  CHECK(l[1].saturated);
  CHECK_FALSE(l[2].lossless);
  CHECK(l[2].skipped == 1000);
  REQUIRE(best_lossless(l) != nullptr);
  CHECK(best_lossless(l)->offered_rate == 5000);

  Table summary{"s", "s", {}, {}};
  add_summary_row(summary, 100, 1, "gateway", l);
  REQUIRE(summary.rows.size() == 1);
  CHECK(summary.rows[0][3].text == "4999");   // the lossless rate, not the 9500 "peak"
  CHECK(summary.rows[0][7].text == "10000");  // the next step up...
  CHECK(summary.rows[0][9].text == "5.00");   // ...with its loss
}

TEST_CASE("a step that delivers under 95 % of what was offered is not lossless") {
  CHECK_FALSE(judge(10000, 20000, 20000, 20000, 9000).lossless);
}

TEST_CASE("repeated runs of a step: lossless only if every run was, CPU the median") {
  auto a = judge(10000, 20000, 20000, 20000, 9990);
  auto b = judge(10000, 20000, 20000, 19990, 9985);  // 10 lost
  auto c = judge(10000, 20000, 20000, 20000, 9995);
  a.gw_cpu_s_per_100k = 1.0;
  b.gw_cpu_s_per_100k = 3.0;
  c.gw_cpu_s_per_100k = 2.0;
  const auto all = combine({a, b, c});
  CHECK_FALSE(all.lossless);
  CHECK(all.delivered_rate == 9990);
  CHECK_FALSE(all.saturated);
  CHECK(all.gw_cpu_s_per_100k == 2.0);
  CHECK(combine({a, c}).lossless);
}

namespace {
struct Broker {
  Options opt;
  Rig rig{opt};
  std::string error = rig.start_broker();
};

bool wait_for(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}
}  // namespace

TEST_CASE("direct Paho: a message Paho refuses is skipped, never acked") {
  Broker b;
  REQUIRE(b.error.empty());
  Publishers pubs(b.rig.broker_uri(), 1, "count-paho-");
  REQUIRE(pubs.connect().empty());
  std::vector<std::uint8_t> payload(kPayloadSize, 0);
  pubs.begin_step(7);
  std::uint64_t sent = 0;
  // Far more than Paho's command queue holds (100 by default): some are refused at once, and
  // Paho C++ reports each refusal through delivery_complete() as if it had been delivered.
  for (std::uint32_t seq = 0; seq < 20000; ++seq) {
    write_stamp(payload, Stamp{7, seq, 0, now_ns()});
    if (pubs.publish(0, "bench/count", payload.data(), payload.size(), 1)) ++sent;
  }
  CHECK(wait_for([&] { return pubs.acked() >= sent; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(pubs.acked() == sent);
  MESSAGE("sent " << sent << ", refused " << pubs.failed() << ", acked " << pubs.acked());
}

TEST_CASE("direct Paho and direct epoll: a full QoS 1 window skips the message") {
  Broker b;
  REQUIRE(b.error.empty());
  std::vector<std::uint8_t> payload(kPayloadSize, 0);
  write_stamp(payload, Stamp{1, 0, 0, now_ns()});

  RawPublishers raw;
  REQUIRE(raw.connect(b.rig.broker_port(), 1, "count-raw-").empty());
  raw.begin_step();
  for (int i = 0; i < 4; ++i)
    CHECK(raw.publish(0, "bench/count", payload.data(), payload.size(), 1, 4));
  CHECK_FALSE(raw.publish(0, "bench/count", payload.data(), payload.size(), 1, 4));
  CHECK(raw.publish(0, "bench/count", payload.data(), payload.size(), 0, 4));  // QoS 0: no window
  CHECK(wait_for([&] {
    raw.poll(10);
    return raw.acked() == 4;
  }));
  CHECK(raw.publish(0, "bench/count", payload.data(), payload.size(), 1, 4));  // window open again
  CHECK(raw.unexpected() == 0);

  Publishers pubs(b.rig.broker_uri(), 1, "count-window-");
  REQUIRE(pubs.connect().empty());
  pubs.begin_step(1);
  std::uint64_t sent = 0;
  for (int i = 0; i < 1000; ++i) {
    if (pubs.publish(0, "bench/count", payload.data(), payload.size(), 1, 64)) ++sent;
  }
  CHECK(sent >= 64);
  CHECK(sent < 1000);  // the window filled faster than the broker acknowledged
  CHECK(wait_for([&] { return pubs.acked() == sent; }));
  CHECK(pubs.failed() == 0);
}
