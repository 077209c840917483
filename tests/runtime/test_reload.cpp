#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "gateway/service/reload.hpp"

namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("reload: a new [ble] allow is a live change, not one that needs a restart") {
    gw::Config old_config, fresh;
    old_config.ble.allow = {"C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"};
    fresh.ble.allow = {"c0:ff:ee:00:00:02", "C0:FF:EE:00:00:03"};  // case does not count
    const auto plan = gw::plan_reload(old_config, fresh, false);
    CHECK(has(plan.changes, "ble.allow: +1 -1"));
    CHECK_FALSE(has(plan.ignored, "ble.allow"));
    CHECK(plan.ignored.empty());
  }

  TEST_CASE("reload: the same allow-list in another case or order changes nothing") {
    gw::Config old_config, fresh;
    old_config.ble.allow = {"C0:FF:EE:00:00:01", "C0:FF:EE:00:00:02"};
    fresh.ble.allow = {"c0:ff:ee:00:00:02", "c0:ff:ee:00:00:01"};
    const auto plan = gw::plan_reload(old_config, fresh, false);
    CHECK(plan.changes.empty());
    CHECK(plan.ignored.empty());
  }

  TEST_CASE("reload: keys read at start only are still reported as needing a restart") {
    gw::Config old_config, fresh;
    fresh.broker.uri = "tcp://192.0.2.1:1883";
    fresh.udp.enabled = !old_config.udp.enabled;
    fresh.broker.tls.cert_file_template = "/etc/s/{client_id}.crt";
    const auto plan = gw::plan_reload(old_config, fresh, false);
    CHECK(has(plan.ignored, "broker.uri"));
    CHECK(has(plan.ignored, "udp.enabled"));
    CHECK(has(plan.ignored, "broker.tls.cert_file_template"));
    CHECK_FALSE(has(plan.ignored, "broker.tls.key_file_template"));
    CHECK(plan.changes.empty());
  }

  TEST_CASE("reload: a new [state] path needs a restart (the open store stays in use)") {
    gw::Config old_config, fresh;
    fresh.state.path = "/var/lib/mqttsn-gateway/other.db";
    const auto plan = gw::plan_reload(old_config, fresh, false);
    CHECK(has(plan.ignored, "state.path"));
    CHECK(plan.changes.empty());
  }

  TEST_CASE("reload: a new [metrics] listen needs a restart (the endpoint stays where it is)") {
    gw::Config old_config, fresh;
    fresh.metrics.listen = "127.0.0.1:9883";
    const auto plan = gw::plan_reload(old_config, fresh, false);
    CHECK(has(plan.ignored, "metrics.listen"));
    CHECK(plan.changes.empty());
  }
}
