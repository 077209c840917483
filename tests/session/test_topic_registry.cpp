// The per-client topic registry and the bounded outbox on their own.
#include <map>
#include <memory>
#include <set>

#include "gateway/core/outbox.hpp"
#include "gateway/core/topic_registry.hpp"
#include "helpers.hpp"

using gw::ClientTopic;
using gw::Outbox;
using gw::Outgoing;
using gw::TopicRegistry;
using mqttsn::TopicIdType;

namespace {
std::shared_ptr<const gw::PredefinedTopics> predefined() {
  return std::make_shared<const gw::PredefinedTopics>(
      gw::PredefinedTopics{{1, "pre/one"}, {0x6162, "pre/ab"}, {9, "pre/one"}});
}
}  // namespace

TEST_CASE("registry: normal ids from 1, one per name, names and ids map both ways") {
  TopicRegistry r(nullptr);
  CHECK(r.assign("a") == std::optional<std::uint16_t>{1});
  CHECK(r.assign("b") == std::optional<std::uint16_t>{2});
  CHECK(r.assign("a") == std::optional<std::uint16_t>{1});
  CHECK(r.id_of("b") == std::optional<std::uint16_t>{2});
  CHECK_FALSE(r.id_of("c").has_value());
  REQUIRE(r.name_of(2) != nullptr);
  CHECK(*r.name_of(2) == "b");
  CHECK(r.name_of(3) == nullptr);
  CHECK(r.size() == 2);
}

TEST_CASE("registry: never 0x0000 or 0xFFFF, no small cap, exhaustion reported") {
  TopicRegistry r(nullptr);
  std::set<std::uint16_t> seen;
  for (unsigned i = 0; i < 0xFFFE; ++i) {
    const auto id = r.assign("t/" + std::to_string(i));
    REQUIRE(id.has_value());
    REQUIRE(*id != 0x0000);
    REQUIRE(*id != 0xFFFF);
    seen.insert(*id);
  }
  CHECK(seen.size() == 0xFFFE);
  CHECK_FALSE(r.assign("one/too/many").has_value());
  CHECK(r.assign("t/5") == std::optional<std::uint16_t>{6});  // existing names still resolve
  r.clear();
  CHECK(r.assign("again") == std::optional<std::uint16_t>{1});
}

TEST_CASE("registry: resolve normal, predefined and short topic fields") {
  TopicRegistry r(predefined());
  r.assign("n/1");
  CHECK(r.resolve(TopicIdType::Normal, 1) == std::optional<std::string>{"n/1"});
  CHECK_FALSE(r.resolve(TopicIdType::Normal, 2).has_value());
  CHECK(r.resolve(TopicIdType::Predefined, 1) == std::optional<std::string>{"pre/one"});
  CHECK_FALSE(r.resolve(TopicIdType::Predefined, 2).has_value());
  CHECK(r.resolve(TopicIdType::Short, 0x6162) == std::optional<std::string>{"ab"});
  // Without configuration there are no predefined topics.
  TopicRegistry none(nullptr);
  CHECK_FALSE(none.resolve(TopicIdType::Predefined, 1).has_value());
  CHECK_FALSE(none.predefined_id("pre/one").has_value());
}

TEST_CASE("registry: naming a topic towards the client: predefined, then short, then normal") {
  TopicRegistry r(predefined());
  // Two ids for one name: the lowest, whatever the hash order.
  CHECK(r.for_client("pre/one") == std::optional<ClientTopic>{{TopicIdType::Predefined, 1, false}});
  CHECK(r.for_client("xy") == std::optional<ClientTopic>{{TopicIdType::Short, 0x7879, false}});
  // Not known to the client yet: needs REGISTER; known after set_known_by_client.
  CHECK(r.for_client("n/1") == std::optional<ClientTopic>{{TopicIdType::Normal, 1, true}});
  r.set_known_by_client(1, true);
  CHECK(r.for_client("n/1") == std::optional<ClientTopic>{{TopicIdType::Normal, 1, false}});
  r.forget_client_knowledge();  // CleanSession=false reconnect
  CHECK(r.for_client("n/1") == std::optional<ClientTopic>{{TopicIdType::Normal, 1, true}});
  // Three characters is not a short name.
  CHECK(r.for_client("xyz") == std::optional<ClientTopic>{{TopicIdType::Normal, 2, true}});
}

TEST_CASE("registry: rejected names are remembered until cleared") {
  TopicRegistry r(nullptr);
  r.reject("a/b");
  CHECK(r.rejected("a/b"));
  CHECK_FALSE(r.rejected("a/c"));
  r.clear_rejections();
  CHECK_FALSE(r.rejected("a/b"));
}

TEST_CASE("outbox: in order; when full the oldest QoS 0 goes first, else the oldest") {
  Outbox o(3);
  auto m = [](std::string name, int qos) {
    return Outgoing{std::move(name), {}, qos, false, 0, false};
  };
  auto one = [](std::vector<Outbox::Dropped> d) {
    REQUIRE(d.size() == 1);
    CHECK(d[0].reason == gw::DropReason::ClientMessages);
    return d[0].message.topic;
  };
  CHECK(o.push_back(m("a", 1)).empty());
  CHECK(o.push_back(m("b", 0)).empty());
  CHECK(o.push_back(m("c", 0)).empty());
  CHECK(one(o.push_back(m("d", 2))) == "b");
  CHECK(one(o.push_back(m("e", 1))) == "c");
  // No QoS 0 left before it: the newcomer itself is QoS 0.
  CHECK(one(o.push_back(m("f", 0))) == "f");
  CHECK(one(o.push_back(m("g", 1))) == "a");
  CHECK(o.dropped() == 4);
  CHECK(o.size() == 3);
  CHECK(o.pop_front().topic == "d");
  o.push_front(m("back", 1));  // a message in flight put back never drops anything
  CHECK(o.size() == 3);
  CHECK(o.front().topic == "back");
  CHECK(o.erase_topic("e") == 1);
  CHECK(o.pop_front().topic == "back");
  CHECK(o.pop_front().topic == "g");
  CHECK(o.empty());
}

namespace {
Outgoing sized(std::string topic, std::size_t payload, int qos = 1) {
  return Outgoing{std::move(topic), gw::Bytes(payload, 0x55), qos, false, 0, false};
}
}  // namespace

TEST_CASE("outbox: a byte cap per client drops the oldest until the newest fits") {
  Outbox o(100, 30);
  CHECK(o.push_back(sized("a", 9)).empty());  // 10 bytes: topic + payload
  CHECK(o.push_back(sized("b", 9)).empty());
  CHECK(o.push_back(sized("c", 9)).empty());
  CHECK(o.bytes() == 30);
  auto d = o.push_back(sized("d", 19));  // 20 bytes: a and b make room
  REQUIRE(d.size() == 2);
  CHECK(d[0].message.topic == "a");
  CHECK(d[1].message.topic == "b");
  CHECK(d[0].reason == gw::DropReason::ClientBytes);
  CHECK(o.bytes() == 30);
  CHECK(o.size() == 2);
  // Bigger than the cap on its own: only the newcomer goes.
  d = o.push_back(sized("huge", 100));
  REQUIRE(d.size() == 1);
  CHECK(d[0].message.topic == "huge");
  CHECK(o.size() == 2);
  CHECK(o.pop_front().topic == "c");
  CHECK(o.bytes() == 20);
}

TEST_CASE("outbox: totals over all clients are shared; each client makes room from its own") {
  auto budget = std::make_shared<gw::BufferBudget>(3, 0);
  {
    Outbox a(100, 0, budget);
    Outbox b(100, 0, budget);
    CHECK(a.push_back(sized("a1", 0)).empty());
    CHECK(a.push_back(sized("a2", 0)).empty());
    CHECK(b.push_back(sized("b1", 0)).empty());
    CHECK(budget->messages() == 3);
    auto d = b.push_back(sized("b2", 0));  // over the total: b's oldest goes, a keeps its own
    REQUIRE(d.size() == 1);
    CHECK(d[0].message.topic == "b1");
    CHECK(d[0].reason == gw::DropReason::TotalMessages);
    CHECK(a.size() == 2);
    CHECK(budget->drops(gw::DropReason::TotalMessages) == 1);
    a.pop_front();
    CHECK(budget->messages() == 2);
    budget->set_limits(0, 10);                   // live change: bytes now
    CHECK(b.push_back(sized("b3", 4)).empty());  // 2 + 2 + 6 = 10 bytes
    d = a.push_back(sized("a3", 0));
    REQUIRE(d.size() == 1);
    CHECK(d[0].message.topic == "a2");
    CHECK(d[0].reason == gw::DropReason::TotalBytes);
    Outbox moved = std::move(a);
    CHECK(budget->messages() == 3);
  }
  // Destroyed outboxes give their share back.
  CHECK(budget->messages() == 0);
  CHECK(budget->bytes() == 0);
}

TEST_CASE("predefined topics replaced whole: a registry built before sees both new directions") {
  auto live = std::make_shared<gw::PredefinedTopics>(gw::PredefinedTopics{{1, "cmd/x"}});
  TopicRegistry r(live);
  CHECK(r.predefined_id("cmd/x") == 1);
  live->replace(gw::PredefinedTopicSet(std::map<std::uint16_t, std::string>{{5, "cmd/x"}}));
  CHECK(r.predefined_id("cmd/x") == 5);
  CHECK(r.predefined_name(1) == nullptr);
  REQUIRE(r.predefined_name(5) != nullptr);
  CHECK(*r.predefined_name(5) == "cmd/x");
  CHECK(r.for_client("cmd/x") == ClientTopic{TopicIdType::Predefined, 5, false});
}
