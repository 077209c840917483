// The aggregating mode's subscription table: reference counts per filter, fan-out, retained.
#include <string>
#include <vector>

#include "gateway/core/subscription_table.hpp"
#include "helpers.hpp"

using gw::SubscriptionTable;
using Holders = std::vector<SubscriptionTable::Holder>;

namespace {
const gw::TimePoint t0 = gw::TimePoint{} + std::chrono::hours(1);
}

TEST_CASE("subscription table: the last holder of a filter unsubscribes it") {
  SubscriptionTable t;
  CHECK(t.add(1, "a/b", 0) == 0);
  CHECK(t.add(2, "a/b", 1) == 1);
  CHECK(t.filter_count() == 1);
  CHECK(t.holder_count("a/b") == 2);
  CHECK_FALSE(t.remove(1, "a/b"));
  CHECK(t.holds(2, "a/b"));
  CHECK_FALSE(t.remove(1, "a/b"));  // not held any more: nothing changes
  CHECK(t.remove(2, "a/b"));
  CHECK(t.filter_count() == 0);
  CHECK_FALSE(t.remove(2, "a/b"));
}

TEST_CASE("subscription table: upstream QoS is the highest of the holders") {
  SubscriptionTable t;
  CHECK(t.add(1, "q", 0) == 0);
  CHECK(t.add(2, "q", 2) == 2);
  CHECK(t.add(3, "q", 1) == 2);
  CHECK(t.filters() == std::vector<std::pair<std::string, int>>{{"q", 2}});
  // A repeated SUBSCRIBE of one holder is still one reference.
  CHECK(t.add(1, "q", 1) == 2);
  CHECK(t.holder_count("q") == 3);
}

TEST_CASE("subscription table: a message goes to each matching holder once") {
  SubscriptionTable t;
  t.add(1, "s/+/t", 0);
  t.add(1, "s/#", 0);  // overlapping filters of one holder
  t.add(2, "s/x/t", 0);
  t.add(3, "other", 0);
  t.acked(1, "s/+/t", t0);
  CHECK(t.match("s/x/t", false, t0) == Holders{1, 2});
  CHECK(t.match("s/y/t", false, t0) == Holders{1});
  CHECK(t.match("other", false, t0) == Holders{3});
  CHECK(t.match("nothing", false, t0).empty());
  t.add(4, "w/+", 0);
  CHECK(t.match("w/a", false, t0) == Holders{4});
  CHECK(t.match("w/a/b", false, t0).empty());
}

TEST_CASE("subscription table: retained messages go only to recent subscribers") {
  SubscriptionTable t;
  t.add(1, "r/t", 1);
  t.acked(1, "r/t", t0);
  const auto later = t0 + SubscriptionTable::kRetainedWindow + std::chrono::milliseconds(1);
  t.add(2, "r/#", 1);  // not acknowledged yet: recent
  CHECK(t.match("r/t", true, later) == Holders{2});
  t.acked(2, "r/#", later);
  CHECK(t.match("r/t", true, later + std::chrono::milliseconds(100)) == Holders{2});
  CHECK(t.match("r/t", true, later + SubscriptionTable::kRetainedWindow).empty());
  // Live messages go to everybody.
  CHECK(t.match("r/t", false, later + std::chrono::hours(1)) == Holders{1, 2});
  // Subscribing again makes it recent again.
  t.add(1, "r/t", 1);
  CHECK(t.match("r/t", true, later + std::chrono::hours(1)) == Holders{1});
  t.refresh_all(later + std::chrono::hours(2));
  CHECK(t.match("r/t", true, later + std::chrono::hours(2)) == Holders{1, 2});
}

TEST_CASE("subscription table: removing a holder releases all its filters") {
  SubscriptionTable t;
  t.add(1, "a", 0);
  t.add(1, "b/#", 0);
  t.add(2, "b/#", 0);
  CHECK(t.remove_holder(1) == std::vector<std::string>{"a"});
  CHECK(t.holder_count("b/#") == 1);
  CHECK(t.match("b/c", false, t0) == Holders{2});
  CHECK(t.remove_holder(1).empty());
  CHECK(t.remove_holder(2) == std::vector<std::string>{"b/#"});
  CHECK(t.filter_count() == 0);
  CHECK(t.match("b/c", false, t0).empty());
}

TEST_CASE("subscription table: a holder's subscriptions move to another holder") {
  SubscriptionTable t;
  t.add(1, "p/1", 1);
  t.add(1, "p/#", 2);
  t.add(2, "p/1", 0);
  t.move_holder(1, 99);
  CHECK_FALSE(t.holds(1, "p/1"));
  CHECK(t.holds(99, "p/1"));
  CHECK(t.holds(99, "p/#"));
  CHECK(t.holder_count("p/1") == 2);
  CHECK(t.match("p/1", false, t0) == Holders{2, 99});
  CHECK(t.remove_holder(1).empty());
  CHECK(t.remove_holder(99) == std::vector<std::string>{"p/#"});
  CHECK(t.holder_count("p/1") == 1);
}
