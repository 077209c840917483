// The pure parts of the DTLS transport: the PSK file parser, the stateless cookie, the datagram
// BIO, and the gateway's identity rule.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "gateway/runtime/peer_identity.hpp"
#include "gateway/service/config.hpp"
#include "transports/dtls/cookie.hpp"
#include "transports/dtls/datagram_bio.hpp"
#include "transports/dtls/psk_file.hpp"
#include "transports/udp/udp_transport.hpp"

using namespace transport;

namespace {
std::string error_of(const std::variant<PskKeys, std::string>& r) {
  const auto* e = std::get_if<std::string>(&r);
  return e != nullptr ? *e : std::string();
}
PeerAddress addr(const char* text, Kind kind = Kind::Dtls) {
  auto a = parse_udp_address(text);
  REQUIRE(a);
  a->kind = kind;
  return *a;
}
}  // namespace

TEST_CASE("psk file: identities and keys, comments and blank lines skipped") {
  auto r = parse_psk_text("# fleet\n\nsensor-1:00ff10\r\nsensor-2:DEADbeef\n  \n");
  REQUIRE(std::holds_alternative<PskKeys>(r));
  const auto& k = std::get<PskKeys>(r);
  CHECK(k.size() == 2);
  CHECK(k.at("sensor-1") == std::vector<std::uint8_t>{0x00, 0xff, 0x10});
  CHECK(k.at("sensor-2") == std::vector<std::uint8_t>{0xde, 0xad, 0xbe, 0xef});
}

TEST_CASE("psk file: every bad line is named") {
  CHECK(error_of(parse_psk_text("a:00\nnocolon\n")) == "line 2: expected identity:hexkey");
  CHECK(error_of(parse_psk_text(":00\n")) == "line 1: empty identity");
  CHECK(error_of(parse_psk_text("a:0\n")).find("even number") != std::string::npos);
  CHECK(error_of(parse_psk_text("a:zz\n")) == "line 1: key is not hexadecimal");
  CHECK(error_of(parse_psk_text("a:00\na:11\n")).find("given twice") != std::string::npos);
  CHECK(error_of(parse_psk_text("a:b:00\n")) == "line 1: identity contains ':'");
  CHECK(error_of(parse_psk_text("a:" + std::string(514, '0') + "\n")).find("longer") !=
        std::string::npos);
}

TEST_CASE("cookie: bound to the address, survives one rotation, not two") {
  CookieJar jar;
  const std::vector<std::uint8_t> peer{1, 2, 3, 4};
  const std::vector<std::uint8_t> other{1, 2, 3, 5};
  const auto c = jar.make(peer);
  CHECK(jar.verify(peer, c));
  CHECK_FALSE(jar.verify(other, c));
  auto bad = c;
  bad[0] ^= 1;
  CHECK_FALSE(jar.verify(peer, bad));
  CHECK_FALSE(jar.verify(peer, std::span<const std::uint8_t>(c.data(), 16)));
  jar.rotate();
  CHECK(jar.verify(peer, c));
  jar.rotate();
  CHECK_FALSE(jar.verify(peer, c));
  CookieJar stranger;
  CHECK_FALSE(stranger.verify(peer, jar.make(peer)));
}

TEST_CASE("datagram BIO: one datagram per read, writes go out whole") {
  DatagramLink link;
  std::vector<std::vector<std::uint8_t>> sent;
  link.send = [&](std::span<const std::uint8_t> b) { sent.emplace_back(b.begin(), b.end()); };
  BIO* bio = datagram_bio_new(&link);
  REQUIRE(bio != nullptr);
  CHECK(datagram_bio_link(bio) == &link);
  char buf[8];
  CHECK(BIO_read(bio, buf, sizeof buf) == -1);
  CHECK(BIO_should_retry(bio));
  const std::uint8_t in[] = {1, 2, 3};
  link.inbound = in;
  CHECK(BIO_ctrl_pending(bio) == 3);
  CHECK(BIO_read(bio, buf, sizeof buf) == 3);
  CHECK(std::memcmp(buf, in, 3) == 0);
  CHECK(BIO_read(bio, buf, sizeof buf) == -1);  // the datagram is read once
  const std::uint8_t big[10] = {};
  link.inbound = big;
  CHECK(BIO_read(bio, buf, 4) == 4);  // cut to what was asked, and counted
  CHECK(link.truncated == 1);
  CHECK(BIO_write(bio, "abcd", 4) == 4);
  CHECK(BIO_write(bio, "ef", 2) == 2);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].size() == 4);
  CHECK(BIO_ctrl(bio, BIO_CTRL_DGRAM_QUERY_MTU, 0, nullptr) > 0);
  BIO* mem = BIO_new(BIO_s_mem());
  CHECK(datagram_bio_link(mem) == nullptr);
  BIO_free(mem);
  BIO_free(bio);
}

TEST_CASE("identity: DTLS peers must use their identity as ClientId; plain UDP cannot take it") {
  const auto dtls = addr("127.0.0.1:5000");
  const auto udp = addr("127.0.0.1:5001", Kind::Udp);
  CHECK(gw::identity_refusal(dtls, "s1", "s1", true, nullptr).empty());
  CHECK(gw::identity_refusal(dtls, "s1", "s2", true, nullptr) ==
        "ClientId is not the DTLS identity \"s1\"");
  CHECK(gw::identity_refusal(dtls, "s1", "s2", false, nullptr).empty());
  CHECK(gw::identity_refusal(udp, "", "s1", true, nullptr).empty());
  CHECK(gw::identity_refusal(udp, "", "s1", true, &dtls) == "ClientId belongs to a DTLS sensor");
  CHECK(gw::identity_refusal(udp, "", "s1", false, &dtls).empty());
  CHECK(gw::identity_refusal(udp, "", "s1", true, &udp).empty());
  CHECK(to_string(dtls) == "dtls:127.0.0.1:5000");
}

namespace {
bool has_error(const gw::ConfigResult& r, const std::string& text) {
  return std::any_of(r.errors.begin(), r.errors.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}
}  // namespace

TEST_CASE("config [dtls]: defaults, every key checked, files only when enabled") {
  auto r = gw::parse_config("");
  REQUIRE(r.ok());
  CHECK_FALSE(r.config.dtls.enabled);
  CHECK(r.config.dtls.listen == std::vector<std::string>{"0.0.0.0:8883", "[::]:8883"});
  CHECK(r.config.dtls.psk_file == "/etc/mqttsn-gateway/psk");
  CHECK(r.config.dtls.identity_must_match_client_id);
  CHECK(r.config.dtls.max_handshakes == 256);
  // Disabled: the missing default psk_file is not an error.
  CHECK(gw::parse_config("[dtls]\nenabled = false\n").ok());
  auto bad = gw::parse_config(
      "[dtls]\nenabled = true\nlisten = [\"nowhere\"]\npsk_file = \"/nonexistent/psk\"\n"
      "cert_file = \"/nonexistent/cert\"\nrequire_certificate = true\nmax_peers = 0\nfoo = 1\n");
  CHECK(has_error(bad, "dtls.listen: bad address"));
  CHECK(has_error(bad, "dtls.psk_file: /nonexistent/psk: cannot read"));
  CHECK(has_error(bad, "dtls.cert_file: cannot read"));
  CHECK(has_error(bad, "dtls.key_file: give both"));
  CHECK(has_error(bad, "dtls.require_certificate: needs dtls.ca_file"));
  CHECK(has_error(bad, "dtls.max_peers"));
  CHECK(has_error(bad, "dtls.foo: unknown key"));
  CHECK(has_error(gw::parse_config("[dtls]\nenabled = true\npsk_file = \"\"\n"),
                  "neither psk_file nor cert_file"));
  // Only DTLS is a transport too.
  CHECK_FALSE(has_error(gw::parse_config("[udp]\nenabled = false\n[dtls]\nenabled = true\n"),
                        "no transport enabled"));
}

TEST_CASE("config [dtls]: the PSK file is read, and refused when everyone may read it") {
  char path[] = "/tmp/dtls-unit-psk.XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << "s1:0011\n";
  const std::string toml = std::string("[dtls]\nenabled = true\npsk_file = \"") + path + "\"\n";
  chmod(path, 0600);
  auto ok = gw::parse_config(toml);
  REQUIRE(ok.ok());
  CHECK(ok.config.dtls.psk_keys.at("s1") == std::vector<std::uint8_t>{0x00, 0x11});
  chmod(path, 0644);
  CHECK(has_error(gw::parse_config(toml), "readable by everyone"));
  std::ofstream(path) << "s1:xyz\n";
  chmod(path, 0600);
  CHECK(has_error(gw::parse_config(toml), "line 1:"));
  std::remove(path);
}
