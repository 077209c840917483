#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "gateway/service/config.hpp"

namespace {

bool has_error(const gw::ConfigResult& r, const std::string& text) {
  return std::any_of(r.errors.begin(), r.errors.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

std::string all_errors(const gw::ConfigResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e + "\n";
  return s;
}

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("config: defaults with an empty file") {
    auto r = gw::parse_config("");
    REQUIRE(r.ok());
    CHECK(r.config.gateway.id == 1);
    CHECK(r.config.broker.uri == "tcp://127.0.0.1:1883");
    CHECK(r.config.broker.mode == "transparent");
    CHECK(r.config.udp.listen == std::vector<std::string>{"0.0.0.0:1883", "[::]:1883"});
    CHECK(r.config.udp.receive_buffer_bytes >= 1024u * 1024u);
    CHECK(r.config.protocol.retry_interval_ms == 10000);
    CHECK(r.config.protocol.retry_count == 3);
    CHECK(r.config.protocol.advertise_interval_s == 900);
    CHECK(r.config.protocol.max_buffered_per_client == 1000);
    CHECK_FALSE(r.config.ble.enabled);
    CHECK(r.config.ble.service_uuid == "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
    CHECK(r.config.predefined_topics.empty());
  }

  TEST_CASE("config: a good file") {
    auto r = gw::parse_config(R"(
[gateway]
id = 42
log_level = "debug"
[broker]
uri = "tcp://127.0.0.1:18830"
mode = "transparent"
connect_timeout_ms = 2500
[udp]
listen = ["127.0.0.1:10000", "[::1]:10000"]
receive_buffer_bytes = 1048576
advertise_to = ["127.0.0.1:10001"]
[topics.predefined]
1 = "sensors/predefined/one"
"65534" = "last"
[protocol]
retry_interval_ms = 500
retry_count = 5
advertise_interval_s = 60
max_buffered_per_client = 10
[ble]
enabled = true
adapter = "hci1"
allow = ["C0:FF:EE:00:00:01"]
rssi_min = -80
[ble.passkeys]
"C0:FF:EE:00:00:01" = 123456
)");
    INFO(all_errors(r));
    REQUIRE(r.ok());
    const auto& c = r.config;
    CHECK(c.gateway.id == 42);
    CHECK(c.gateway.log_level == "debug");
    CHECK(c.broker.uri == "tcp://127.0.0.1:18830");
    CHECK(c.broker.connect_timeout_ms == 2500);
    CHECK(c.udp.listen.size() == 2);
    CHECK(c.udp.receive_buffer_bytes == 1048576);
    CHECK(c.udp.advertise_to == std::vector<std::string>{"127.0.0.1:10001"});
    CHECK(c.predefined_topics.at(1) == "sensors/predefined/one");
    CHECK(c.predefined_topics.at(65534) == "last");
    CHECK(c.protocol.retry_interval_ms == 500);
    CHECK(c.protocol.retry_count == 5);
    CHECK(c.protocol.advertise_interval_s == 60);
    CHECK(c.protocol.max_buffered_per_client == 10);
    CHECK(c.ble.enabled);
    CHECK(c.ble.adapter == "hci1");
    CHECK(c.ble.allow.size() == 1);
    REQUIRE(c.ble.rssi_min.has_value());
    CHECK(*c.ble.rssi_min == -80);
    CHECK(c.ble.passkeys.at("C0:FF:EE:00:00:01") == 123456);
  }

  TEST_CASE("config: unknown keys are errors naming the key") {
    auto r = gw::parse_config("[protocol]\nretry_cuont = 3\n[nonsense]\nx = 1\n");
    CHECK_FALSE(r.ok());
    CHECK(has_error(r, "protocol.retry_cuont: unknown key"));
    CHECK(has_error(r, "nonsense: unknown key"));
    auto top = gw::parse_config("gateway_id = 3\n");
    CHECK(has_error(top, "gateway_id: unknown key"));
  }

  TEST_CASE("config: [state] path; empty by default, its keys checked") {
    CHECK(gw::parse_config("").config.state.path.empty());
    auto r = gw::parse_config("[state]\npath = \"state.db\"\n");
    REQUIRE(r.ok());
    CHECK(r.config.state.path == "state.db");
    CHECK(has_error(gw::parse_config("[state]\npath = 1\n"), "state.path: expected string"));
    CHECK(has_error(gw::parse_config("[state]\nfile = \"x\"\n"), "state.file: unknown key"));
  }

  TEST_CASE("config: [metrics] listen; off by default, the address checked") {
    CHECK(gw::parse_config("").config.metrics.listen.empty());
    auto r = gw::parse_config("[metrics]\nlisten = \"127.0.0.1:9883\"\n");
    REQUIRE(r.ok());
    CHECK(r.config.metrics.listen == "127.0.0.1:9883");
    CHECK(gw::parse_config("[metrics]\nlisten = \"[::1]:9883\"\n").ok());
    CHECK(has_error(gw::parse_config("[metrics]\nlisten = \"localhost:9883\"\n"),
                    "metrics.listen: bad address"));
    CHECK(has_error(gw::parse_config("[metrics]\nlisten = \"127.0.0.1\"\n"),
                    "metrics.listen: bad address"));
    CHECK(has_error(gw::parse_config("[metrics]\nport = 1\n"), "metrics.port: unknown key"));
  }

  TEST_CASE("config: wrong types are errors naming the key") {
    auto r = gw::parse_config(
        "[protocol]\nretry_count = \"three\"\n[broker]\nuri = 5\n[udp]\nlisten = \"0.0.0.0:1\"\n"
        "[ble]\nenabled = 1\n");
    CHECK(has_error(r, "protocol.retry_count: expected integer"));
    CHECK(has_error(r, "broker.uri: expected string"));
    CHECK(has_error(r, "udp.listen: expected array of strings"));
    CHECK(has_error(r, "ble.enabled: expected boolean"));
    CHECK(has_error(gw::parse_config("gateway = 1\n"), "gateway: expected table"));
  }

  TEST_CASE("config: bad predefined topic ids") {
    for (const char* id : {"0", "65535", "70000", "abc", "-1", "1x"}) {
      CAPTURE(id);
      auto r = gw::parse_config(std::string("[topics.predefined]\n\"") + id + "\" = \"a/b\"\n");
      CHECK(has_error(r, std::string("topics.predefined.") + id + ": topic id must be"));
    }
    CHECK(has_error(gw::parse_config("[topics.predefined]\n1 = 7\n"),
                    "topics.predefined.1: expected string"));
    CHECK(has_error(gw::parse_config("[topics.predefined]\n1 = \"a/#\"\n"),
                    "topics.predefined.1: not a valid topic name"));
  }

  TEST_CASE("config: out of range and invalid values") {
    CHECK(has_error(gw::parse_config("[gateway]\nid = 256\n"), "gateway.id: must be between"));
    CHECK(has_error(gw::parse_config("[gateway]\nlog_level = \"loud\"\n"), "gateway.log_level"));
    CHECK(has_error(gw::parse_config("[broker]\nmode = \"bridge\"\n"),
                    "broker.mode: expected \"transparent\" or \"aggregating\""));
    {
      const auto r = gw::parse_config("[broker]\nmode = \"aggregating\"\n");
      CHECK(r.ok());
      CHECK(r.config.broker.mode == "aggregating");
    }
    CHECK(has_error(gw::parse_config("[broker]\nuri = \"127.0.0.1:1883\"\n"), "broker.uri"));
    CHECK(has_error(gw::parse_config("[udp]\nlisten = [\"localhost\"]\n"),
                    "udp.listen: bad address"));
    CHECK(has_error(gw::parse_config("[udp]\nadvertise_to = [\"1.2.3.4:99999\"]\n"),
                    "udp.advertise_to: bad address"));
    CHECK(has_error(gw::parse_config("[protocol]\nadvertise_interval_s = 70000\n"),
                    "protocol.advertise_interval_s: must be between"));
    CHECK(has_error(gw::parse_config("[ble]\nrssi_min = 50\n"), "ble.rssi_min: must be between"));
    CHECK(has_error(gw::parse_config("[broker]\nmax_connects_in_flight = -1\n"),
                    "broker.max_connects_in_flight: must be between"));
    {
      const auto r = gw::parse_config("[broker]\nmax_connects_in_flight = 16\n");
      CHECK(r.ok());
      CHECK(r.config.broker.max_connects_in_flight == 16);
      CHECK(gw::parse_config("").config.broker.max_connects_in_flight == 256);
      CHECK(gw::parse_config("").config.broker.connect_timeout_ms == 4000);
    }
    CHECK(has_error(gw::parse_config("[ble.passkeys]\n\"AA\" = 1000000\n"), "ble.passkeys.AA"));
  }

  TEST_CASE("config: TOML syntax errors say where") {
    auto r = gw::parse_config("[gateway\nid = 1\n", "x.toml");
    REQUIRE_FALSE(r.ok());
    CHECK(r.errors.front().rfind("x.toml:1:", 0) == 0);
  }

  TEST_CASE("config: a missing file is an error") {
    auto r = gw::load_config_file("/nonexistent/gateway.toml");
    CHECK(has_error(r, "cannot read file"));
  }
}
