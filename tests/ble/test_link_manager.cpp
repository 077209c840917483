// The BLE link state machine (transports/ble/link_manager.hpp) with injected time, no D-Bus.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "transports/ble/link_manager.hpp"

using transport::ble::ConnectError;
using transport::ble::LinkManager;
using transport::ble::LinkPolicy;
using transport::ble::LinkRequest;
using transport::ble::LinkState;
using transport::ble::LinkTime;
using namespace std::chrono_literals;
using Op = LinkRequest::Op;

namespace {

const LinkTime t0 = LinkTime{} + 1000s;

std::string sensor(int i) {
  return "C0:FF:EE:00:00:0" + std::to_string(i);
}

std::vector<LinkRequest> of(const std::vector<LinkRequest>& all, Op op) {
  std::vector<LinkRequest> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&](const LinkRequest& r) { return r.op == op; });
  return out;
}

// Carries every request out at once: connects succeed, disconnects drop the link.
void carry_out(LinkManager& m, const std::vector<LinkRequest>& reqs, LinkTime now) {
  for (const auto& r : reqs) {
    if (r.op == Op::Connect) m.linked(r.sensor, r.adapter, now);
    if (r.op == Op::Disconnect) m.link_lost(r.sensor, now);
  }
}

}  // namespace

TEST_CASE("never more links per adapter than max_connections; best RSSI first") {
  LinkManager m(LinkPolicy{3, 30s});
  m.adapter_up("hci0");
  for (int i = 1; i <= 5; ++i) m.advert(sensor(i), "hci0", -90 + i * 10, t0);
  const auto reqs = m.poll(t0);
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0] == LinkRequest{Op::Connect, sensor(5), "hci0"});
  CHECK(reqs[1].sensor == sensor(4));
  CHECK(reqs[2].sensor == sensor(3));
  CHECK(m.adapters().at("hci0").links == 3);
  CHECK(m.poll(t0 + 1s).empty());  // no slot, nobody asleep: nothing to do
}

TEST_CASE("a sensor seen by two adapters goes to the stronger one with a free slot") {
  LinkManager m(LinkPolicy{1, 30s});
  m.adapter_up("hci0");
  m.adapter_up("hci1");
  m.advert(sensor(1), "hci0", -40, t0);
  m.advert(sensor(1), "hci1", -70, t0);
  m.advert(sensor(2), "hci0", -50, t0);
  m.advert(sensor(2), "hci1", -60, t0);
  const auto reqs = m.poll(t0);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0] == LinkRequest{Op::Connect, sensor(1), "hci0"});
  CHECK(reqs[1] == LinkRequest{Op::Connect, sensor(2), "hci1"});
}

TEST_CASE("an asleep sensor's link is released after idle_disconnect, an awake one is kept") {
  LinkManager m(LinkPolicy{5, 30s});
  m.adapter_up("hci0");
  m.advert(sensor(1), "hci0", -50, t0);
  m.advert(sensor(2), "hci0", -50, t0);
  carry_out(m, m.poll(t0), t0);
  m.set_idle(sensor(1), true, t0 + 1s);
  CHECK(m.poll(t0 + 30s).empty());
  const auto reqs = m.poll(t0 + 31s);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0] == LinkRequest{Op::Disconnect, sensor(1), "hci0"});
  CHECK(m.sensor(sensor(1))->state == LinkState::Releasing);
  m.link_lost(sensor(1), t0 + 32s);
  CHECK(m.adapters().at("hci0").released == 1);
  CHECK(m.poll(t0 + 100s).empty());  // sensor 2 is awake; sensor 1 does not advertise
  // It wakes and advertises: connected again.
  m.advert(sensor(1), "hci0", -50, t0 + 200s);
  CHECK(m.poll(t0 + 200s) == std::vector<LinkRequest>{{Op::Connect, sensor(1), "hci0"}});
}

TEST_CASE("idle_disconnect 0 keeps asleep links") {
  LinkManager m(LinkPolicy{5, 0s});
  m.adapter_up("hci0");
  m.advert(sensor(1), "hci0", -50, t0);
  carry_out(m, m.poll(t0), t0);
  m.set_idle(sensor(1), true, t0);
  CHECK(m.poll(t0 + 3600s).empty());
}

TEST_CASE("a full adapter releases its least recently used asleep link, never an awake one") {
  LinkManager m(LinkPolicy{3, 0s});
  m.adapter_up("hci0");
  for (int i = 1; i <= 3; ++i) m.advert(sensor(i), "hci0", -50, t0);
  carry_out(m, m.poll(t0), t0);
  m.set_idle(sensor(1), true, t0 + 10s);
  m.set_idle(sensor(2), true, t0 + 5s);  // asleep longer: least recently used
  // sensor 3 stays awake (mid-exchange).
  m.advert(sensor(4), "hci0", -80, t0 + 20s);
  auto reqs = m.poll(t0 + 20s);
  CHECK(reqs == std::vector<LinkRequest>{{Op::Disconnect, sensor(2), "hci0"}});
  CHECK(m.poll(t0 + 21s).empty());  // one release at a time
  m.link_lost(sensor(2), t0 + 21s);
  reqs = m.poll(t0 + 21s);
  CHECK(reqs == std::vector<LinkRequest>{{Op::Connect, sensor(4), "hci0"}});
  carry_out(m, reqs, t0 + 21s);
  // Next one: sensor 1 goes; sensor 3 (awake) is never chosen.
  m.advert(sensor(5), "hci0", -80, t0 + 30s);
  CHECK(m.poll(t0 + 30s) == std::vector<LinkRequest>{{Op::Disconnect, sensor(1), "hci0"}});
  m.link_lost(sensor(1), t0 + 30s);
  carry_out(m, m.poll(t0 + 30s), t0 + 30s);
  m.advert(sensor(6), "hci0", -80, t0 + 40s);
  for (auto t = t0 + 40s; t < t0 + 50s; t += 1s) {
    m.advert(sensor(6), "hci0", -80, t);
    CHECK(of(m.poll(t), Op::Disconnect).empty());  // 3 awake, 4 and 5 just linked and awake
  }
}

TEST_CASE("a just linked asleep sensor is not released at once for another") {
  LinkManager m(LinkPolicy{1, 0s});
  m.adapter_up("hci0");
  m.advert(sensor(1), "hci0", -50, t0);
  carry_out(m, m.poll(t0), t0);
  m.set_idle(sensor(1), true, t0);
  m.advert(sensor(2), "hci0", -50, t0 + 1s);
  CHECK(m.poll(t0 + 1s).empty());
  m.advert(sensor(2), "hci0", -50, t0 + 6s);
  CHECK(m.poll(t0 + 6s) == std::vector<LinkRequest>{{Op::Disconnect, sensor(1), "hci0"}});
}

TEST_CASE(
    "refused connects back off per sensor: fewer than 3 attempts a minute, RSSI changes do "
    "not reset it") {
  LinkManager m(LinkPolicy{3, 30s});
  m.adapter_up("hci0");
  int attempts = 0;
  std::vector<LinkTime> at;
  for (auto t = t0; t < t0 + 600s; t += 100ms) {
    m.advert(sensor(1), "hci0", -50 - static_cast<int>((t - t0) / 1s) % 7, t);  // RSSI moves
    for (const auto& r : m.poll(t)) {
      REQUIRE(r.op == Op::Connect);
      ++attempts;
      at.push_back(t);
      m.connect_failed(r.sensor, ConnectError::Refused, t + 50ms);
    }
  }
  for (std::size_t i = 2; i < at.size(); ++i) CHECK(at[i] - at[i - 2] > 60s);
  CHECK(attempts >= 3);
  CHECK(attempts <= 2 + 600 / 60);
  CHECK(m.sensor(sensor(1))->refused == static_cast<std::uint64_t>(attempts));
  CHECK(m.adapters().at("hci0").refused == static_cast<std::uint64_t>(attempts));
}

TEST_CASE("other failures retry sooner, still at most 2 a minute; success clears the back-off") {
  LinkManager m(LinkPolicy{3, 30s});
  m.adapter_up("hci0");
  std::vector<LinkTime> at;
  for (auto t = t0; t < t0 + 120s; t += 100ms) {
    m.advert(sensor(1), "hci0", -50, t);
    for (const auto& r : m.poll(t)) {
      at.push_back(t);
      m.connect_failed(r.sensor, ConnectError::Other, t);
    }
  }
  REQUIRE(at.size() >= 3);
  CHECK(at[1] - at[0] == 2s);
  CHECK(at[2] - at[0] > 60s);
  const auto t = at.back() + 400s;
  m.advert(sensor(1), "hci0", -50, t);
  auto reqs = m.poll(t);
  REQUIRE(reqs.size() == 1);
  m.linked(sensor(1), "hci0", t);
  m.link_lost(sensor(1), t + 1s);
  m.advert(sensor(1), "hci0", -50, t + 2s);
  CHECK(m.poll(t + 2s).size() == 1);  // no back-off left
}

TEST_CASE("no connect without a fresh advertisement on a usable adapter") {
  LinkManager m(LinkPolicy{3, 30s});
  m.advert(sensor(1), "hci0", -50, t0);
  CHECK(m.poll(t0).empty());  // adapter not up
  m.adapter_up("hci0");
  CHECK(m.poll(t0 + 11s).empty());  // advertisement too old
  m.advert(sensor(1), "hci0", -50, t0 + 12s);
  CHECK(m.poll(t0 + 12s).size() == 1);
}

TEST_CASE("an adapter going away frees its links; its sensors move to another as they advertise") {
  LinkManager m(LinkPolicy{2, 30s});
  m.adapter_up("hci0");
  m.adapter_up("hci1");
  m.advert(sensor(1), "hci0", -40, t0);
  m.advert(sensor(1), "hci1", -80, t0);
  carry_out(m, m.poll(t0), t0);
  CHECK(m.sensor(sensor(1))->adapter == "hci0");
  m.adapter_down("hci0");
  CHECK(m.sensor(sensor(1))->state == LinkState::Idle);
  CHECK(m.poll(t0 + 1s).size() == 1);  // hci1 still fresh from the last advertisement
  CHECK(m.sensor(sensor(1))->adapter == "hci1");
  // A new adapter is used at once.
  m.adapter_up("hci2");
  m.advert(sensor(2), "hci2", -60, t0 + 2s);
  CHECK(m.poll(t0 + 2s) == std::vector<LinkRequest>{{Op::Connect, sensor(2), "hci2"}});
  CHECK(m.adapters().at("hci2").max_links == 1);
}

TEST_CASE("a link lost while connecting counts as a failure") {
  LinkManager m(LinkPolicy{2, 30s});
  m.adapter_up("hci0");
  m.advert(sensor(1), "hci0", -40, t0);
  REQUIRE(m.poll(t0).size() == 1);
  m.link_lost(sensor(1), t0 + 1s);
  m.advert(sensor(1), "hci0", -40, t0 + 1500ms);
  CHECK(m.poll(t0 + 1500ms).empty());
  CHECK(m.sensor(sensor(1))->retry_at.has_value());
}

TEST_CASE("a refusal makes the adapter count as full at its links of that moment for a while") {
  LinkManager m(LinkPolicy{5, 0s});
  m.adapter_up("hci0");
  for (int i = 1; i <= 2; ++i) m.advert(sensor(i), "hci0", -50, t0);
  carry_out(m, m.poll(t0), t0);
  m.advert(sensor(3), "hci0", -50, t0);
  m.advert(sensor(4), "hci0", -50, t0);
  auto reqs = m.poll(t0);
  REQUIRE(reqs.size() == 2);
  m.connect_failed(sensor(3), ConnectError::Refused, t0);
  m.connect_failed(sensor(4), ConnectError::Refused, t0);
  for (auto t = t0; t < t0 + 60s; t += 1s) {
    for (int i = 3; i <= 6; ++i) m.advert(sensor(i), "hci0", -50, t);
    CHECK(m.poll(t).empty());  // 2 links, the controller said full: nobody is tried
  }
  // An asleep link makes room as usual.
  m.set_idle(sensor(1), true, t0 + 10s);
  m.advert(sensor(5), "hci0", -50, t0 + 61s);
  reqs = m.poll(t0 + 61s);
  CHECK(std::count_if(reqs.begin(), reqs.end(), [](const LinkRequest& r) {
          return r.op == Op::Connect;
        }) >= 1);  // full-until expired: tried again
  CHECK(m.adapters().at("hci0").refused == 2);
}

TEST_CASE("a linked device that never talks to the gateway gives its slot up after a minute") {
  LinkManager m(LinkPolicy{1, 30s});
  m.adapter_up("hci0");
  m.advert(sensor(1), "hci0", -50, t0);
  carry_out(m, m.poll(t0), t0);  // linked, but no hint ever comes (no session)
  m.advert(sensor(2), "hci0", -50, t0 + 30s);
  CHECK(m.poll(t0 + 30s).empty());
  m.advert(sensor(2), "hci0", -50, t0 + 61s);
  CHECK(m.poll(t0 + 61s) == std::vector<LinkRequest>{{Op::Disconnect, sensor(1), "hci0"}});
  // An awake sensor (hinted) is never released, however quiet.
  LinkManager k(LinkPolicy{1, 30s});
  k.adapter_up("hci0");
  k.advert(sensor(1), "hci0", -50, t0);
  carry_out(k, k.poll(t0), t0);
  k.set_idle(sensor(1), false, t0);
  k.advert(sensor(2), "hci0", -50, t0 + 600s);
  CHECK(k.poll(t0 + 600s).empty());
}
