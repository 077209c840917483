// [admission] pure parts: ClientId patterns, CIDR networks, the token bucket and its bounded table,
// and the config keys.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "gateway/admission/admission.hpp"
#include "gateway/admission/rate_limit.hpp"
#include "gateway/service/config.hpp"

namespace {

using namespace std::chrono_literals;

transport::PeerAddress udp4(const char* ip, std::uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &sin.sin_addr);
  transport::PeerAddress p;
  p.size = sizeof sin;
  std::memcpy(p.raw.data(), &sin, sizeof sin);
  return p;
}

transport::PeerAddress udp6(const char* ip, std::uint16_t port) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  ::inet_pton(AF_INET6, ip, &sin6.sin6_addr);
  transport::PeerAddress p;
  p.size = sizeof sin6;
  std::memcpy(p.raw.data(), &sin6, sizeof sin6);
  return p;
}

transport::PeerAddress ble(std::uint8_t last) {
  transport::PeerAddress p;
  p.kind = transport::Kind::Ble;
  p.size = 6;
  p.raw = {0xC0, 0xFF, 0xEE, 0, 0, last};
  return p;
}

gw::Network net(const char* text) {
  auto r = gw::parse_network(text);
  REQUIRE_MESSAGE(std::holds_alternative<gw::Network>(r), text);
  return std::get<gw::Network>(r);
}

std::string net_error(const char* text) {
  auto r = gw::parse_network(text);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
}

bool contains(const char* network, const transport::PeerAddress& p) {
  return gw::network_contains(net(network), *gw::ip_of(p));
}

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("admission: ClientId patterns are exact or a trailing-* prefix") {
    CHECK(gw::client_id_matches("sensor-a", "sensor-a"));
    CHECK_FALSE(gw::client_id_matches("sensor-a", "sensor-ab"));
    CHECK_FALSE(gw::client_id_matches("sensor-a", "sensor-"));
    CHECK(gw::client_id_matches("kitchen-*", "kitchen-"));
    CHECK(gw::client_id_matches("kitchen-*", "kitchen-3"));
    CHECK_FALSE(gw::client_id_matches("kitchen-*", "kitche"));
    CHECK_FALSE(gw::client_id_matches("kitchen-*", "hall-1"));
    CHECK(gw::client_id_matches("*", "anything"));
    CHECK(gw::client_id_matches("*", ""));
    CHECK(gw::check_client_id_pattern("kitchen-*").empty());
    CHECK_FALSE(gw::check_client_id_pattern("kit*chen").empty());
    CHECK_FALSE(gw::check_client_id_pattern("").empty());

    gw::Admission everyone;
    CHECK(everyone.allows_client_id("x"));
    gw::Admission some({"sensor-a", "kitchen-*"}, {});
    CHECK(some.allows_client_id("sensor-a"));
    CHECK(some.allows_client_id("kitchen-7"));
    CHECK_FALSE(some.allows_client_id("sensor-b"));
    CHECK_FALSE(some.allows_client_id(""));
  }

  TEST_CASE("admission: CIDR networks, IPv4 sources match IPv4 networks in either socket family") {
    CHECK(contains("127.0.0.0/8", udp4("127.1.2.3", 1)));
    CHECK_FALSE(contains("127.0.0.0/8", udp4("128.0.0.1", 1)));
    CHECK(contains("10.1.0.0/16", udp4("10.1.255.255", 1)));
    CHECK_FALSE(contains("10.1.0.0/16", udp4("10.2.0.0", 1)));
    CHECK(contains("127.0.0.1", udp4("127.0.0.1", 1)));  // no length: one host
    CHECK_FALSE(contains("127.0.0.1/32", udp4("127.0.0.2", 1)));
    CHECK(contains("10.0.0.0/9", udp4("10.127.0.1", 1)));  // a length not on a byte boundary
    CHECK_FALSE(contains("10.0.0.0/9", udp4("10.128.0.1", 1)));
    CHECK(contains("0.0.0.0/0", udp4("203.0.113.9", 1)));
    CHECK_FALSE(contains("0.0.0.0/0", udp6("2001:db8::1", 1)));  // IPv4 /0 is not all of IPv6
    CHECK(contains("::1/128", udp6("::1", 1)));
    CHECK_FALSE(contains("::1/128", udp6("::2", 1)));
    CHECK(contains("fd00::/8", udp6("fd12:3456::1", 1)));
    CHECK(contains("::/0", udp4("192.0.2.1", 1)));
    // A dual-stack socket sees IPv4 senders as ::ffff:a.b.c.d.
    CHECK(contains("10.1.0.0/16", udp6("::ffff:10.1.2.3", 1)));
    CHECK_FALSE(contains("10.1.0.0/16", udp6("::ffff:10.9.2.3", 1)));

    CHECK(net_error("10.1.0.0/33").find("0..32") != std::string::npos);
    CHECK(net_error("::/129").find("0..128") != std::string::npos);
    CHECK(net_error("10.1.0.5/16").find("beyond the /16") != std::string::npos);
    CHECK(net_error("10.1.0.0/").find("prefix length") != std::string::npos);
    CHECK(net_error("10.1.0.0/x").find("prefix length") != std::string::npos);
    CHECK(net_error("kitchen").find("not an IPv4 or IPv6") != std::string::npos);
    CHECK(net_error("10.1.0/16").find("not an IPv4 or IPv6") != std::string::npos);

    gw::Admission a({}, {"127.0.0.1/32", "::1/128"});
    CHECK(a.networks_restricted());
    CHECK(a.allows_peer(udp4("127.0.0.1", 5000)));
    CHECK_FALSE(a.allows_peer(udp4("127.0.0.2", 5000)));
    CHECK(a.allows_peer(udp6("::1", 5000)));
    CHECK(a.allows_peer(ble(1)));  // BLE is governed by [ble] allow
    CHECK(gw::Admission().allows_peer(udp4("198.51.100.1", 1)));
  }

  TEST_CASE("rate limit: a token bucket passes the burst, then the rate") {
    const auto t0 = gw::SteadyTime{} + 1000s;
    gw::TokenBucket b(3, t0);
    CHECK(b.take(t0, 10, 3));
    CHECK(b.take(t0, 10, 3));
    CHECK(b.take(t0, 10, 3));
    CHECK_FALSE(b.take(t0, 10, 3));
    CHECK_FALSE(b.take(t0 + 50ms, 10, 3));  // half a token
    CHECK(b.take(t0 + 100ms, 10, 3));
    CHECK_FALSE(b.full_at(t0 + 100ms, 10, 3));
    CHECK(b.full_at(t0 + 400ms, 10, 3));
    // Idle for long: never more than the burst.
    for (int i = 0; i < 3; ++i) CHECK(b.take(t0 + 100s, 10, 3));
    CHECK_FALSE(b.take(t0 + 100s, 10, 3));
  }

  TEST_CASE("rate limit: per source IP whatever the port; BLE per device") {
    CHECK(gw::source_key(udp4("10.0.0.1", 1000)) == gw::source_key(udp4("10.0.0.1", 2000)));
    CHECK(gw::source_key(udp4("10.0.0.1", 1000)) == gw::source_key(udp6("::ffff:10.0.0.1", 9)));
    CHECK_FALSE(gw::source_key(udp4("10.0.0.1", 1)) == gw::source_key(udp4("10.0.0.2", 1)));
    CHECK_FALSE(gw::source_key(ble(1)) == gw::source_key(ble(2)));

    const auto t0 = gw::SteadyTime{} + 1000s;
    gw::RateLimiter rl(10, 2, 100);
    const auto a = gw::source_key(udp4("10.0.0.1", 1000));
    const auto a_other_port = gw::source_key(udp4("10.0.0.1", 1001));
    const auto b = gw::source_key(udp4("10.0.0.2", 1000));
    CHECK(rl.allow(a, t0));
    CHECK(rl.allow(a_other_port, t0));
    CHECK_FALSE(rl.allow(a, t0));  // port hopping shares the bucket
    CHECK(rl.allow(b, t0));        // another source is not affected
    CHECK(rl.allow(a, t0 + 100ms));
  }

  TEST_CASE("rate limit: the table is bounded; idle sources are forgotten, strangers share") {
    const auto t0 = gw::SteadyTime{} + 1000s;
    gw::RateLimiter rl(1, 1, 4);
    auto src = [](int i) {
      const std::string ip = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
      return gw::source_key(udp4(ip.c_str(), 1));
    };
    for (int i = 1; i <= 4; ++i) CHECK(rl.allow(src(i), t0));
    CHECK(rl.sources() == 4);
    // A flood of new (spoofed) sources: the table does not grow; they share one bucket.
    int passed = 0;
    for (int i = 10; i < 1010; ++i) passed += rl.allow(src(i), t0 + 10ms) ? 1 : 0;
    CHECK(rl.sources() == 4);
    CHECK(passed == 1);
    CHECK(rl.overflowed() == 1000);
    // The known sources keep their own buckets meanwhile.
    CHECK(rl.allow(src(1), t0 + 1100ms));
    // Once the known ones have been idle long enough to refill, they make room.
    CHECK(rl.allow(src(2000), t0 + 5s));
    CHECK(rl.sources() <= 4);
    CHECK(rl.allow(src(2001), t0 + 5s));
  }

  TEST_CASE("config: [admission] and the buffer caps") {
    auto d = gw::parse_config("");
    REQUIRE(d.ok());
    CHECK(d.config.admission.client_ids.empty());
    CHECK(d.config.admission.networks.empty());
    CHECK(d.config.admission.max_sessions == 0);
    CHECK(d.config.admission.rate_limit_pps == 0);
    CHECK(d.config.protocol.max_buffered_bytes_per_client == 1024u * 1024u);
    CHECK(d.config.protocol.max_buffered_total == 0);
    CHECK(d.config.protocol.max_buffered_bytes_total == 64u * 1024u * 1024u);

    auto r = gw::parse_config(R"(
[admission]
client_ids = ["sensor-a", "kitchen-*"]
networks = ["127.0.0.0/8", "::1/128", "10.1.0.0/16"]
max_sessions = 500
rate_limit_pps = 20
rate_limit_burst = 40
rate_limit_sources = 1000
[protocol]
max_buffered_bytes_per_client = 4096
max_buffered_total = 100000
max_buffered_bytes_total = 1000000
)");
    REQUIRE(r.ok());
    CHECK(r.config.admission.client_ids == std::vector<std::string>{"sensor-a", "kitchen-*"});
    CHECK(r.config.admission.networks.size() == 3);
    CHECK(r.config.admission.max_sessions == 500);
    CHECK(r.config.admission.rate_limit_pps == 20);
    CHECK(r.config.admission.rate_limit_burst == 40);
    CHECK(r.config.admission.rate_limit_sources == 1000);
    CHECK(r.config.protocol.max_buffered_bytes_per_client == 4096);
    CHECK(r.config.protocol.max_buffered_total == 100000);
    CHECK(r.config.protocol.max_buffered_bytes_total == 1000000);

    auto bad = gw::parse_config(R"(
[admission]
networks = ["10.1.0.0/16", "10.1.0.5/16", "kitchen"]
client_ids = ["a*b"]
rate_limit_burst = 5
color = "red"
)");
    CHECK_FALSE(bad.ok());
    auto has = [&](const std::string& text) {
      for (const auto& e : bad.errors)
        if (e.find(text) != std::string::npos) return true;
      return false;
    };
    CHECK(has("admission.networks: \"10.1.0.5/16\""));
    CHECK(has("admission.networks: \"kitchen\""));
    CHECK_FALSE(has("\"10.1.0.0/16\""));
    CHECK(has("admission.client_ids: \"a*b\""));
    CHECK(has("admission.rate_limit_burst: needs admission.rate_limit_pps"));
    CHECK(has("admission.color: unknown key"));
  }
}
