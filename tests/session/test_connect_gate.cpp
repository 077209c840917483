// The connect gate (bounded upstream connects in flight, FIFO) and the reconnect plan (back-off,
// waiting for the broker), both pure.
#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "gateway/core/connect_gate.hpp"
#include "gateway/core/reconnect_plan.hpp"

using namespace std::chrono_literals;
using gw::ConnectGate;
using gw::ReconnectPlan;
using Ids = std::vector<std::uint64_t>;

namespace {
const ConnectGate::TimePoint t0 = ConnectGate::TimePoint{} + 1h;
}

TEST_CASE("connect gate: at most `limit` in flight, the rest start in arrival order") {
  ConnectGate g(2);
  CHECK(g.request(1, t0) == ConnectGate::Admit::Start);
  CHECK(g.request(2, t0) == ConnectGate::Admit::Start);
  CHECK(g.request(3, t0) == ConnectGate::Admit::Wait);
  CHECK(g.request(4, t0) == ConnectGate::Admit::Wait);
  CHECK(g.request(5, t0) == ConnectGate::Admit::Wait);
  CHECK(g.take_startable(t0).empty());
  g.done(2);
  CHECK(g.take_startable(t0) == Ids{3});
  g.done(1);
  g.done(3);
  CHECK(g.take_startable(t0) == Ids{4, 5});
  CHECK(g.in_flight_count() == 2);
  CHECK(g.waiting_count() == 0);
}

TEST_CASE("connect gate: a repeated request opens nothing more, in flight or waiting") {
  ConnectGate g(1);
  CHECK(g.request(1, t0) == ConnectGate::Admit::Start);
  CHECK(g.request(1, t0) == ConnectGate::Admit::Already);
  CHECK(g.request(2, t0) == ConnectGate::Admit::Wait);
  CHECK(g.request(2, t0) == ConnectGate::Admit::Already);
  g.done(1);
  CHECK(g.take_startable(t0) == Ids{2});
  CHECK(g.take_startable(t0).empty());
}

TEST_CASE("connect gate: a waiting id that leaves the queue never starts; no slot leaks") {
  ConnectGate g(1);
  CHECK(g.request(1, t0) == ConnectGate::Admit::Start);
  for (std::uint64_t id = 2; id < 200; ++id) CHECK(g.request(id, t0) == ConnectGate::Admit::Wait);
  for (std::uint64_t id = 2; id < 199; ++id) g.done(id);  // their sessions ended (CONNACK 0x01)
  g.done(1);
  CHECK(g.take_startable(t0) == Ids{199});
  g.done(199);
  g.done(12345);  // unknown: ignored
  CHECK(g.in_flight_count() == 0);
  CHECK(g.waiting_count() == 0);
  CHECK(g.request(7, t0) == ConnectGate::Admit::Start);
}

TEST_CASE("connect gate: a newcomer does not overtake the queue; a stale slot is reclaimed") {
  ConnectGate g(1);
  CHECK(g.request(1, t0) == ConnectGate::Admit::Start);
  CHECK(g.request(2, t0) == ConnectGate::Admit::Wait);
  g.done(1);
  // 2 has not been taken yet: 3 queues behind it instead of taking the free slot.
  CHECK(g.request(3, t0) == ConnectGate::Admit::Wait);
  CHECK(g.take_startable(t0 + 1s) == Ids{2});
  CHECK(g.reclaim(t0).empty());
  CHECK(g.reclaim(t0 + 2s) == Ids{2});
  CHECK(g.take_startable(t0 + 2s) == Ids{3});
}

TEST_CASE("connect gate: limit 0 means no limit") {
  ConnectGate g(0);
  for (std::uint64_t id = 1; id <= 1000; ++id)
    CHECK(g.request(id, t0) == ConnectGate::Admit::Start);
}

TEST_CASE("reconnect plan: broker up: back-off doubles per failure up to max") {
  ReconnectPlan p(500ms, 2000ms);
  CHECK(p.lost(1, t0, true) == t0 + 500ms);
  CHECK(p.due(t0 + 499ms, true).empty());
  CHECK(p.due(t0 + 500ms, true) == Ids{1});
  CHECK(p.lost(1, t0 + 1s, true) == t0 + 2s);  // its retry failed: 1 s
  CHECK(p.due(t0 + 2s, true) == Ids{1});
  CHECK(p.lost(1, t0 + 2s, true) == t0 + 4s);  // 2 s (max)
  CHECK(p.due(t0 + 4s, true) == Ids{1});
  CHECK(p.lost(1, t0 + 4s, true) == t0 + 6s);  // still max
  // Connected and up for `max`: the next loss starts from the minimum again.
  p.connected(1, t0 + 10s);
  CHECK(p.next_due() == std::nullopt);
  CHECK(p.lost(1, t0 + 12s, true) == t0 + 12s + 500ms);
}

TEST_CASE("reconnect plan: broker down: nobody retries; broker back releases all, in order") {
  ReconnectPlan p(1000ms, 30000ms);
  CHECK(p.lost(3, t0, false) == std::nullopt);
  CHECK(p.lost(1, t0 + 1ms, true) == t0 + 1001ms);  // lost before the gateway noticed
  CHECK(p.lost(2, t0 + 2ms, false) == std::nullopt);
  // Due while the broker is down: held, not tried.
  CHECK(p.due(t0 + 5s, false).empty());
  CHECK(p.next_due() == std::nullopt);
  CHECK(p.waiting() == 3);
  CHECK(p.broker_back() == Ids{3, 1, 2});
  CHECK(p.waiting() == 0);
  // The back-off restarted from the minimum: a failed retry now waits `min`, not more.
  CHECK(p.lost(3, t0 + 6s, true) == t0 + 7s);
  p.forget(3);
  CHECK(p.next_due() == std::nullopt);
  CHECK(p.broker_back().empty());
}
