// The state store (SQLite): what is written is read back exactly (bytes, NULLs, order), and an
// unusable file is moved aside, never trusted.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "gateway/store/state_store.hpp"

namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "state-store-XXXXXX").string();
    path = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
    REQUIRE_FALSE(path.empty());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

gw::StoredSession sleeping_sensor() {
  gw::StoredSession s;
  auto& n = s.snapshot;
  n.state = gw::SessionState::Asleep;
  n.client_id = std::string("s\0\xff", 3);  // ClientIds are bytes, not text
  n.clean_session = false;
  n.keep_alive_s = 60;
  n.sleep_s = 300;
  n.will = gw::Will{"dead/s1", {}, 1, true};  // an empty will message is not NULL
  n.topics = {{1, "up/temp", true}, {7, "down/cmd", false}};
  n.next_topic_id = 8;
  n.subscriptions = {{"down/#", 2}, {"down/cmd", 1}};
  n.buffered = {{"down/cmd", {0x00, 0x01}, 1, false, 5, true}, {"down/x", {}, 2, true, 0, false}};
  n.pubrel_msg_id = 4;
  n.next_msg_id = 6;
  transport::PeerAddress peer;
  peer.kind = transport::Kind::Udp;
  peer.endpoint = 1;
  peer.size = 16;
  for (std::uint8_t i = 0; i < 16; ++i) peer.raw[i] = i;
  s.peer = peer;
  s.node_id = "\x01\x02";
  return s;
}

}  // namespace

TEST_CASE("state store: a session is read back exactly; rewrite and delete by ClientId") {
  TempDir dir;
  const std::string path = dir.path + "/state.db";
  gw::StoredSession a = sleeping_sensor();
  gw::StoredSession b;
  b.snapshot.client_id = "b";
  b.snapshot.state = gw::SessionState::Disconnected;
  b.parked_at_unix_ms = 1764150000000;
  {
    auto result = gw::open_state_store(path);
    REQUIRE(result.ok());
    auto& opened = result.value();
    CHECK(opened.problem.empty());
    CHECK(opened.sessions.empty());
    const gw::StoredSession both[] = {a, b};
    CHECK(opened.store->write(both, {}).ok());
  }
  {
    auto result = gw::open_state_store(path);
    REQUIRE(result.ok());
    auto& opened = result.value();
    REQUIRE(opened.sessions.size() == 2);
    const auto& got =
        opened.sessions[1].snapshot.client_id == "b" ? opened.sessions[0] : opened.sessions[1];
    CHECK(got.snapshot == a.snapshot);
    CHECK(got.peer == a.peer);
    CHECK(got.node_id == a.node_id);
    // Rewriting replaces every row of that ClientId; deleting removes them all.
    a.snapshot.buffered.resize(1);
    a.snapshot.topics.clear();
    const gw::StoredSession one[] = {a};
    const std::string gone[] = {"b"};
    CHECK(opened.store->write(one, gone).ok());
  }
  auto result = gw::open_state_store(path);
  REQUIRE(result.ok());
  auto& opened = result.value();
  REQUIRE(opened.sessions.size() == 1);
  CHECK(opened.sessions[0].snapshot == a.snapshot);
}

TEST_CASE("state store: a file that is not SQLite is moved aside and a new one started") {
  TempDir dir;
  const std::string path = dir.path + "/state.db";
  {
    std::ofstream f(path);
    for (int i = 0; i < 100; ++i) f << "not a database at all\n";
  }
  auto result = gw::open_state_store(path);
  REQUIRE(result.ok());
  auto& opened = result.value();
  CHECK_FALSE(opened.problem.empty());
  REQUIRE_FALSE(opened.moved_aside.empty());
  CHECK(fs::exists(opened.moved_aside));
  REQUIRE(opened.store != nullptr);
  CHECK(opened.sessions.empty());
  const gw::StoredSession one[] = {sleeping_sensor()};
  CHECK(opened.store->write(one, {}).ok());
}

TEST_CASE("state store: a directory that does not exist is an error, nothing is moved") {
  auto result = gw::open_state_store("/nonexistent-dir-for-the-test/state.db");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().find("cannot create the state file") != std::string::npos);
}
