// mqttsn-dtls-bench: what DTLS costs. Starts a real mosquitto and the real gateway with [udp] and
// [dtls] side by side on loopback, then measures, each for --seconds:
//   - DTLS handshakes per second (one client after the other: handshake, close_notify);
//   - QoS 1 uplink, one sensor waiting for each PUBACK, over plain UDP and over DTLS;
//   - QoS 0 uplink, one sensor sending as fast as it can, over plain UDP and over DTLS, with the
//     loss counted by a mosquitto_sub at the broker.
// The clients are the field tools' own (gateway/tools/): blocking, one thread.
#include <sys/socket.h>
#include <sys/stat.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

#include "gateway/tools/client_session.hpp"
#include "gateway/tools/tool_error.hpp"
#include "gateway/tools/udp_link.hpp"
#include "processes.hpp"

namespace {

using mqttsn::tools::Clock;
using namespace std::chrono_literals;

constexpr const char* kKey = "00112233445566778899aabbccddeeff";

struct Setup {
  std::string dir;
  std::uint16_t broker_port = 0, udp_port = 0, dtls_port = 0;
  pid_t broker = -1, gateway = -1;
};

mqttsn::tools::DtlsClientOptions psk(const std::string& identity) {
  mqttsn::tools::DtlsClientOptions o;
  o.psk_identity = identity;
  o.psk_hex = kKey;
  return o;
}

std::string start(Setup& s, const std::string& gateway_exe, const std::string& mosquitto) {
  s.dir = bench::make_temp_dir();
  s.broker_port = bench::free_port(SOCK_STREAM);
  // A deep queue for the counting subscriber: the default (1000) drops when it lags.
  bench::write_file(s.dir + "/mosq.conf", "listener " + std::to_string(s.broker_port) +
                                              " 127.0.0.1\nallow_anonymous true\n"
                                              "max_queued_messages 1000000\n");
  s.broker = bench::spawn({mosquitto, "-c", s.dir + "/mosq.conf"}, s.dir + "/mosq.log");
  if (!bench::wait_tcp(s.broker_port, 5s)) return "mosquitto did not start";
  std::string keys;
  for (int i = 0; i < 4; ++i) keys += "bench-" + std::to_string(i) + ":" + kKey + "\n";
  keys += "hs:" + std::string(kKey) + "\n";
  bench::write_file(s.dir + "/psk", keys);
  chmod((s.dir + "/psk").c_str(), 0600);
  s.udp_port = bench::free_port(SOCK_DGRAM);
  s.dtls_port = bench::free_port(SOCK_DGRAM);
  bench::write_file(
      s.dir + "/gw.toml",
      "[gateway]\nlog_level = \"warn\"\n[broker]\nuri = \"tcp://127.0.0.1:" +
          std::to_string(s.broker_port) +
          "\"\nmode = \"aggregating\"\n[udp]\nlisten = [\"127.0.0.1:" + std::to_string(s.udp_port) +
          "\"]\n[dtls]\nenabled = true\nlisten = [\"127.0.0.1:" + std::to_string(s.dtls_port) +
          "\"]\npsk_file = \"" + s.dir +
          "/psk\"\nidentity_must_match_client_id = false\n[status]\nenabled = false\n");
  s.gateway = bench::spawn({gateway_exe, "-c", s.dir + "/gw.toml"}, s.dir + "/gw.log");
  std::this_thread::sleep_for(1s);
  return bench::alive(s.gateway) ? ""
                                 : "gateway did not start: " + bench::read_file(s.dir + "/gw.log");
}

double handshakes(const Setup& s, double seconds, std::uint64_t& failed) {
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  const auto t0 = Clock::now();
  std::uint64_t done = 0;
  while (Clock::now() < end) {
    try {
      mqttsn::tools::UdpLink link("127.0.0.1", s.dtls_port);
      link.start_dtls(psk("hs"), Clock::now() + 5s);
      ++done;
    } catch (const std::exception&) {
      ++failed;
    }
  }
  return static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Uplink {
  double rate = 0;
  std::uint64_t sent = 0;
};

// QoS 1: back to back, each PUBLISH waits for its PUBACK. QoS 0: paced at `rate` per second (the
// kernel would drop what a loop sends faster than any gateway reads).
Uplink uplink(const Setup& s, bool dtls, mqttsn::QoS qos, double seconds, const std::string& id,
              const std::string& topic, double rate) {
  mqttsn::tools::UdpLink link("127.0.0.1", dtls ? s.dtls_port : s.udp_port);
  if (dtls) link.start_dtls(psk(id), Clock::now() + 5s);
  mqttsn::tools::ClientSession session(link, id, mqttsn::tools::RetryPolicy{1000ms, 3});
  session.connect(mqttsn::tools::ConnectOptions{});
  const std::uint16_t tid = session.register_topic(topic);
  const mqttsn::Bytes payload(32, 0x42);
  Uplink u;
  const auto t0 = Clock::now();
  const auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto gap =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  auto next = t0;
  while (Clock::now() < end) {
    session.publish(mqttsn::TopicIdType::Normal, tid, qos, false, payload);
    ++u.sent;
    if (qos == mqttsn::QoS::AtMostOnce) {
      next += gap;
      if (next > Clock::now()) std::this_thread::sleep_until(next);
    }
  }
  u.rate = static_cast<double>(u.sent) / std::chrono::duration<double>(Clock::now() - t0).count();
  session.disconnect();
  return u;
}

std::uint64_t lines(const std::string& path) {
  std::uint64_t n = 0;
  for (char c : bench::read_file(path)) n += c == '\n' ? 1u : 0u;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DTLS cost: handshakes per second, QoS 0/1 uplink over DTLS next to plain UDP"};
  std::string gateway = BENCH_DEFAULT_GATEWAY;
  std::string mosquitto = "/usr/sbin/mosquitto";
  double seconds = 3;
  double qos0_rate = 5000;
  app.add_option("--gateway", gateway, "mqttsn-gateway binary");
  app.add_option("--mosquitto", mosquitto, "mosquitto binary");
  app.add_option("--seconds", seconds, "per measurement");
  app.add_option("--qos0-rate", qos0_rate, "QoS 0 messages per second offered");
  CLI11_PARSE(app, argc, argv);
  bench::stop_children_on_signals();
  Setup s;
  if (auto e = start(s, gateway, mosquitto); !e.empty()) {
    std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  int rc = 0;
  try {
    const auto before = bench::read_proc(s.gateway);
    std::uint64_t failed = 0;
    const double hs = handshakes(s, seconds, failed);
    const auto after = bench::read_proc(s.gateway);
    std::printf(
        "DTLS handshakes (PSK, ECDHE-PSK, one client at a time): %.0f /s, %llu failed, "
        "gateway CPU %.2f ms per handshake\n",
        hs, static_cast<unsigned long long>(failed),
        (after.cpu_s - before.cpu_s) * 1000.0 / std::max(1.0, hs * seconds));
    const pid_t sub = bench::spawn(
        {"/usr/bin/mosquitto_sub", "-p", std::to_string(s.broker_port), "-t", "bench/#", "-q", "1"},
        s.dir + "/sub.out");
    std::this_thread::sleep_for(500ms);
    struct Row {
      const char* name;
      bool dtls;
      mqttsn::QoS qos;
    };
    int n = 0;
    for (const Row r : {Row{"QoS 1 uplink, plain UDP", false, mqttsn::QoS::AtLeastOnce},
                        Row{"QoS 1 uplink, DTLS     ", true, mqttsn::QoS::AtLeastOnce},
                        Row{"QoS 0 uplink, plain UDP", false, mqttsn::QoS::AtMostOnce},
                        Row{"QoS 0 uplink, DTLS     ", true, mqttsn::QoS::AtMostOnce}}) {
      const std::string topic = "bench/" + std::to_string(n);
      const auto got0 = lines(s.dir + "/sub.out");
      const auto cpu0 = bench::read_proc(s.gateway).cpu_s;
      const Uplink u =
          uplink(s, r.dtls, r.qos, seconds, "bench-" + std::to_string(n), topic, qos0_rate);
      // Until the subscriber's count stops moving (at most 10 s): the last ones reach it.
      std::uint64_t seen = lines(s.dir + "/sub.out");
      for (int i = 0; i < 20; ++i) {
        std::this_thread::sleep_for(500ms);
        const auto now_seen = lines(s.dir + "/sub.out");
        if (now_seen == seen && now_seen - got0 >= u.sent) break;
        if (now_seen == seen && i >= 3) break;
        seen = now_seen;
      }
      const auto got = lines(s.dir + "/sub.out") - got0;
      const auto cpu = bench::read_proc(s.gateway).cpu_s - cpu0;
      std::printf(
          "%s: %8.0f msg/s, %llu sent, %llu at the broker (loss %.2f %%), gateway "
          "CPU %.1f us/msg\n",
          r.name, u.rate, static_cast<unsigned long long>(u.sent),
          static_cast<unsigned long long>(got),
          u.sent ? 100.0 * static_cast<double>(u.sent - std::min(u.sent, got)) /
                       static_cast<double>(u.sent)
                 : 0.0,
          cpu * 1e6 / static_cast<double>(std::max<std::uint64_t>(1, u.sent)));
      std::fflush(stdout);
      ++n;
    }
    bench::stop(sub, 1000ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    rc = 1;
  }
  bench::stop(s.gateway, 3000ms);
  bench::stop(s.broker, 3000ms);
  std::filesystem::remove_all(s.dir);
  return rc;
}
