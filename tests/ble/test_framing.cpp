// BLE framing: MTU-3 fragmentation and reassembly by the MQTT-SN length header (docs/ble.md).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "transports/ble/ble_address.hpp"
#include "transports/ble/framing.hpp"

using transport::ble::fragment;
using transport::ble::message_length;
using transport::ble::Reassembler;
using Bytes = std::vector<std::uint8_t>;
using namespace std::chrono_literals;

namespace {

// A PUBLISH-shaped frame of `total` octets (type 0x0C), long form above 255.
Bytes frame(std::size_t total, std::uint8_t fill = 0xA5) {
  Bytes b;
  if (total > 255) {
    b = {0x01, static_cast<std::uint8_t>(total >> 8), static_cast<std::uint8_t>(total & 0xFF),
         0x0C};
  } else {
    b = {static_cast<std::uint8_t>(total), 0x0C};
  }
  while (b.size() < total) b.push_back(static_cast<std::uint8_t>(fill + b.size()));
  return b;
}

struct Collector {
  std::vector<Bytes> got;
  Reassembler::DeliverFn fn() {
    return [this](std::span<const std::uint8_t> m) { got.emplace_back(m.begin(), m.end()); };
  }
};

const auto t0 = Reassembler::Clock::time_point{} + 1h;

}  // namespace

TEST_CASE("fragment cuts at MTU-3 and never joins messages") {
  const auto m = frame(300);
  const auto parts = fragment(m, 20);
  REQUIRE(parts.size() == 15);
  for (const auto& p : parts) CHECK(p.size() == 20);
  CHECK(fragment(frame(21), 20).back().size() == 1);
  CHECK(fragment(frame(7), 244).size() == 1);
  CHECK(fragment(Bytes{}, 20).empty());
  CHECK(fragment(m, 0).empty());
}

TEST_CASE("300-byte message survives MTU 23 and MTU 247") {
  for (std::size_t chunk : {std::size_t{20}, std::size_t{244}}) {
    Reassembler r(1024, 3000ms);
    Collector c;
    const auto m = frame(300);
    for (const auto& p : fragment(m, chunk)) r.feed(p, t0, c.fn());
    REQUIRE(c.got.size() == 1);
    CHECK(c.got[0] == m);
    CHECK(r.idle());
    CHECK(r.dropped() == 0);
  }
}

TEST_CASE("single-chunk messages are delivered one per notification") {
  Reassembler r(1024, 3000ms);
  Collector c;
  r.feed(frame(2), t0, c.fn());  // PINGREQ-sized
  r.feed(frame(20), t0, c.fn());
  CHECK(c.got.size() == 2);
}

TEST_CASE("implausible headers are dropped while idle (resynchronisation)") {
  Reassembler r(1024, 3000ms);
  Collector c;
  r.feed(Bytes{0x00, 0x0C}, t0, c.fn());                 // length 0
  r.feed(Bytes{0x01, 0x00}, t0, c.fn());                 // long form cut short
  r.feed(Bytes{0x05, 0x0C, 1, 2, 3, 4, 5}, t0, c.fn());  // longer than announced
  CHECK(c.got.empty());
  CHECK(r.dropped() == 3);
  r.feed(frame(5), t0, c.fn());
  CHECK(c.got.size() == 1);
}

TEST_CASE("oversize messages are refused") {
  Reassembler r(256, 3000ms);
  Collector c;
  for (const auto& p : fragment(frame(300), 20)) r.feed(p, t0, c.fn());
  CHECK(c.got.empty());
  CHECK(r.dropped() >= 1);
}

TEST_CASE("a stale partial message is dropped after the timeout") {
  Reassembler r(1024, 3000ms);
  Collector c;
  auto zeros = frame(50);
  std::fill(zeros.begin() + 2, zeros.end(),
            0x00);  // continuation chunks start with an implausible 0x00
  const auto parts = fragment(zeros, 20);
  r.feed(parts[0], t0, c.fn());
  r.feed(parts[1], t0 + 4s, c.fn());  // too late: the partial is gone, this chunk has no header
  CHECK(c.got.empty());
  CHECK(r.idle());
  const auto m = frame(30);
  for (const auto& p : fragment(m, 20)) r.feed(p, t0 + 5s, c.fn());
  REQUIRE(c.got.size() == 1);
  CHECK(c.got[0] == m);
}

TEST_CASE("a lost chunk: the overrunning chunk starts the next message") {
  Reassembler r(1024, 3000ms);
  Collector c;
  const auto a = fragment(frame(45), 20);
  const auto b = frame(20);
  r.feed(a[0], t0, c.fn());
  r.feed(a[1], t0, c.fn());  // a[2] lost; 40 of 45 collected
  r.feed(b, t0, c.fn());     // would overrun: restart with it
  REQUIRE(c.got.size() == 1);
  CHECK(c.got[0] == b);
}

TEST_CASE("reset forgets a partial message (link down)") {
  Reassembler r(1024, 3000ms);
  Collector c;
  r.feed(fragment(frame(50), 20)[0], t0, c.fn());
  CHECK_FALSE(r.idle());
  r.reset();
  CHECK(r.idle());
}

TEST_CASE("forwarder encapsulation: length covers the inner frame") {
  // Encapsulation header: Length 0x05, MsgType 0xFE, Ctrl, WirelessNodeId (2 octets), then a
  // 30-octet frame.
  Bytes m{0x05, 0xFE, 0x00, 0xAB, 0xCD};
  const auto inner = frame(30);
  m.insert(m.end(), inner.begin(), inner.end());
  CHECK(message_length(m) == 35);
  Reassembler r(1024, 3000ms);
  Collector c;
  for (const auto& p : fragment(m, 20)) r.feed(p, t0, c.fn());
  REQUIRE(c.got.size() == 1);
  CHECK(c.got[0] == m);
}

TEST_CASE("addresses: parse, format, peer octets, object path") {
  using namespace transport::ble;
  const auto a = parse_address("c0:ff:ee:00:00:01");
  REQUIRE(a);
  CHECK(format_address(*a) == "C0:FF:EE:00:00:01");
  CHECK_FALSE(parse_address("C0:FF:EE:00:00"));
  CHECK_FALSE(parse_address("C0-FF-EE-00-00-01"));
  CHECK_FALSE(parse_address("G0:FF:EE:00:00:01"));
  const auto p = to_peer(*a);
  CHECK(p.kind == transport::Kind::Ble);
  CHECK(p.size == 6);
  CHECK(p.raw[0] == 0xC0);
  CHECK(p.raw[5] == 0x01);
  CHECK(from_peer(p) == a);
  CHECK(transport::to_string(p) == "ble:C0:FF:EE:00:00:01");
  CHECK(device_path("/org/bluez/hci0", *a) == "/org/bluez/hci0/dev_C0_FF_EE_00_00_01");
}
