// The per-datagram path: the keep-alive deadline that every packet moves (queued once, not per
// packet, and still enforced) and the address hash that finds the session.
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>
#include <set>

#include "gateway/runtime/sensor_address.hpp"
#include "tests/routing/rig.hpp"

using mqttsn::QoS;
using mqttsn::TopicIdType;
using rt::ble;
using rt::Rig;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kShortAb = 0x6162;  // short topic name "ab"

gw::SensorAddress v4(std::uint32_t host, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(host);
  gw::SensorAddress a;
  a.peer.size = sizeof sa;
  std::memcpy(a.peer.raw.data(), &sa, sizeof sa);
  return a;
}

gw::SensorAddress v6(std::uint8_t last, std::uint16_t port, std::uint32_t scope = 0) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  sa.sin6_addr.s6_addr[0] = 0xfd;
  sa.sin6_addr.s6_addr[15] = last;
  sa.sin6_scope_id = scope;
  gw::SensorAddress a;
  a.peer.size = sizeof sa;
  std::memcpy(a.peer.raw.data(), &sa, sizeof sa);
  return a;
}

}  // namespace

TEST_CASE("keep-alive: a sensor that keeps publishing stays, one that goes quiet is lost") {
  Rig rig;
  rig.connect(ble(1), "s1", true, 10);  // supervised at 1.5 x 10 s
  // Each packet moves the deadline later; the one queued at CONNECT fires early and is queued
  // again.
  for (int i = 0; i < 12; ++i) {
    rig.advance(5s);
    rig.receive(ble(1), rt::publish_msg(TopicIdType::Short, kShortAb, QoS::AtMostOnce, 0, "x"));
    REQUIRE(rig.runtime->session_count() == 1);
  }
  CHECK(rig.broker.published.size() == 12);
  rig.advance(14s);  // 14 s after its last packet: still within 15 s
  CHECK(rig.runtime->session_count() == 1);
  rig.advance(1s);
  rig.advance(1s);
  CHECK(rig.runtime->session_count() == 0);
  CHECK(rig.runtime->counters().sessions_ended == 1);
}

TEST_CASE("the address hash: equal addresses hash equally, neighbours spread") {
  const gw::SensorAddressHash hash;
  CHECK(hash(v4(0x7f000001, 5000)) == hash(v4(0x7f000001, 5000)));
  CHECK(hash(v6(1, 5000)) == hash(v6(1, 5000)));
  // What a fleet on one host or one subnet looks like: ports or last octets in a row.
  std::set<std::size_t> seen;
  for (std::uint16_t port = 40000; port < 42000; ++port) seen.insert(hash(v4(0x7f000001, port)));
  for (std::uint32_t host = 0; host < 2000; ++host) seen.insert(hash(v4(0x0a000000 + host, 1883)));
  for (int last = 0; last < 256; ++last)
    seen.insert(hash(v6(static_cast<std::uint8_t>(last), 1883)));
  for (std::uint32_t scope = 1; scope < 100; ++scope) seen.insert(hash(v6(1, 1883, scope)));
  CHECK(seen.size() == 2000 + 2000 + 256 + 99);
  // The bucket is the hash modulo a prime: low bits must vary too.
  std::set<std::size_t> low;
  for (std::uint16_t port = 40000; port < 40256; ++port)
    low.insert(hash(v4(0x7f000001, port)) & 0xff);
  CHECK(low.size() > 128);
  // The transport, the listening socket and a forwarder's node id are part of the address.
  auto dtls = v4(0x7f000001, 5000);
  dtls.peer.kind = transport::Kind::Dtls;
  auto second_socket = v4(0x7f000001, 5000);
  second_socket.peer.endpoint = 1;
  auto behind_forwarder = v4(0x7f000001, 5000);
  behind_forwarder.node_id = "\x01\x02";
  const auto plain = hash(v4(0x7f000001, 5000));
  CHECK(hash(dtls) != plain);
  CHECK(hash(second_socket) != plain);
  CHECK(hash(behind_forwarder) != plain);
}
