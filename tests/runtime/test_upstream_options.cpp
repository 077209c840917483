// The [broker] keys of the shared gateway client and the Paho options they become.
#include <doctest/doctest.h>
#include <mqtt/create_options.h>

#include "gateway/service/config.hpp"
#include "gateway/upstream/upstream.hpp"
#include "gateway/upstream/upstream_options.hpp"

TEST_SUITE("runtime") {
  TEST_CASE("upstream options: the shared client's Paho queue is broker.max_queued_publishes") {
    auto r = gw::parse_config("");
    REQUIRE(r.ok());
    gw::UpstreamOptions o;
    gw::apply_broker_config(r.config.broker, o);
    // Paho C refuses a publish beyond max_buffered_messages also while connected; its default
    // (100) lost QoS 0 in aggregating mode, where this one client carries every sensor.
    CHECK(gw::upstream_create_options(o.security, true).get_max_buffered_messages() == 20000);
    CHECK(gw::upstream_create_options(o.security, false).get_max_buffered_messages() == 100);
    CHECK(r.config.broker.persistent_link);
    CHECK(r.config.broker.client_id.empty());

    auto set = gw::parse_config(
        "[broker]\nmax_queued_publishes = 5000\nclient_id = \"gw-north\"\n"
        "persistent_link = false\n");
    REQUIRE(set.ok());
    gw::apply_broker_config(set.config.broker, o);
    CHECK(gw::upstream_create_options(o.security, true).get_max_buffered_messages() == 5000);
    CHECK(set.config.broker.client_id == "gw-north");
    CHECK_FALSE(set.config.broker.persistent_link);

    CHECK_FALSE(gw::parse_config("[broker]\nmax_queued_publishes = 10\n").ok());
    CHECK_FALSE(gw::parse_config("[broker]\nclient_id = \"\"\n").ok());
  }
}
