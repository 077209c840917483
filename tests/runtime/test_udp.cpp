#include <doctest/doctest.h>

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "transports/udp/udp_transport.hpp"

namespace {

struct Received {
  transport::PeerAddress from;
  std::vector<std::uint8_t> bytes;
};

// A server that echoes every datagram back to its sender, and a client that sends to it.
void echo_round_trip(const std::string& any_addr) {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::vector<Received> at_server;
  std::vector<Received> at_client;
  transport::UdpTransport* server_ptr = nullptr;
  transport::UdpTransport* client_ptr = nullptr;

  transport::UdpTransport server(
      &loop, [&](const transport::PeerAddress& from, std::span<const std::uint8_t> b) {
        at_server.push_back({from, {b.begin(), b.end()}});
        server_ptr->send(from, b);
      });
  transport::UdpTransport client(
      &loop, [&](const transport::PeerAddress& from, std::span<const std::uint8_t> b) {
        at_client.push_back({from, {b.begin(), b.end()}});
        if (at_client.size() == 3) {
          server_ptr->close();
          client_ptr->close();
        }
      });
  server_ptr = &server;
  client_ptr = &client;

  transport::UdpOptions opts;
  opts.listen = {any_addr};
  opts.receive_buffer_bytes = 256 * 1024;
  REQUIRE(server.start(opts) == "");
  REQUIRE(client.start(opts) == "");
  const auto server_addr = transport::parse_udp_address(server.local_addresses().at(0));
  REQUIRE(server_addr.has_value());

  const std::vector<std::uint8_t> small{0x03, 0x01, 0x00};
  const std::vector<std::uint8_t> big(1400, 0xAB);
  const std::vector<std::uint8_t> empty;
  client.send(*server_addr, small);
  client.send(*server_addr, big);
  client.send(*server_addr, empty);

  // Safety net: a lost datagram fails the test instead of hanging it.
  std::function<void()> give_up = [&] {
    server.close();
    client.close();
  };
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  guard.data = &give_up;
  uv_timer_start(
      &guard, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, 5000, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);

  REQUIRE(at_server.size() == 3);
  CHECK(at_server[0].bytes == small);
  CHECK(at_server[1].bytes == big);
  CHECK(at_server[2].bytes.empty());
  CHECK(at_server[0].from.kind == transport::Kind::Udp);
  CHECK(at_server[0].from == at_server[1].from);
  REQUIRE(at_client.size() == 3);
  CHECK(at_client[0].bytes == small);
  CHECK(at_client[1].bytes == big);
  // The reply comes from the address the client sent to.
  CHECK(at_client[0].from.raw == server_addr->raw);
  CHECK(server.counters().received == 3);
  CHECK(server.counters().sent == 3);
  CHECK(server.counters().send_errors == 0);
  CHECK(server.closed());
  CHECK(client.closed());
  CHECK(uv_loop_close(&loop) == 0);
}

}  // namespace

TEST_SUITE("runtime") {
  TEST_CASE("udp: parse addresses") {
    auto v4 = transport::parse_udp_address("127.0.0.1:1883");
    REQUIRE(v4);
    CHECK(transport::to_string(*v4) == "udp:127.0.0.1:1883");
    auto v6 = transport::parse_udp_address("[::1]:5000");
    REQUIRE(v6);
    CHECK(transport::to_string(*v6) == "udp:[::1]:5000");
    CHECK(transport::parse_udp_address("[::]:0"));
    CHECK_FALSE(transport::parse_udp_address("localhost:1883"));
    CHECK_FALSE(transport::parse_udp_address("127.0.0.1"));
    CHECK_FALSE(transport::parse_udp_address("127.0.0.1:65536"));
    CHECK_FALSE(transport::parse_udp_address("[::1]5000"));
    CHECK_FALSE(transport::parse_udp_address("1.2.3.4:"));
  }

  TEST_CASE("udp: loopback send and receive, IPv4") {
    echo_round_trip("127.0.0.1:0");
  }
  TEST_CASE("udp: loopback send and receive, IPv6") {
    echo_round_trip("[::1]:0");
  }

  TEST_CASE("udp: [::]:p and 0.0.0.0:p share a port; broadcast goes to advertise_to") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    std::vector<std::vector<std::uint8_t>> got;
    std::function<void()> done;
    transport::UdpTransport listener(
        &loop, [&](const transport::PeerAddress&, std::span<const std::uint8_t> b) {
          got.emplace_back(b.begin(), b.end());
          if (got.size() == 2) done();
        });
    transport::UdpOptions lo;
    lo.listen = {"127.0.0.1:0"};
    REQUIRE(listener.start(lo) == "");
    const std::string port = listener.local_addresses().at(0).substr(10);  // after "127.0.0.1:"

    transport::UdpTransport gw(&loop, {});
    transport::UdpOptions go;
    go.listen = {"0.0.0.0:0"};
    go.advertise_to = {"127.0.0.1:" + port, "127.0.0.1:" + port};
    REQUIRE(gw.start(go) == "");
    // The same port on IPv6 (IPV6ONLY) next to the IPv4 wildcard.
    const std::string gw_port = gw.local_addresses().at(0).substr(8);  // after "0.0.0.0:"
    transport::UdpTransport v6(&loop, {});
    transport::UdpOptions vo;
    vo.listen = {"[::]:" + gw_port};
    CHECK(v6.start(vo) == "");

    done = [&] {
      listener.close();
      gw.close();
      v6.close();
    };
    const std::vector<std::uint8_t> adv{0x05, 0x00, 0x01, 0x03, 0x84};
    gw.broadcast(adv);
    uv_run(&loop, UV_RUN_DEFAULT);
    REQUIRE(got.size() == 2);
    CHECK(got[0] == adv);
    CHECK(uv_loop_close(&loop) == 0);
  }
}
