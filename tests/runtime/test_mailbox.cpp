#include <doctest/doctest.h>

#include <uv.h>

#include <thread>
#include <vector>

#include "gateway/upstream/mailbox.hpp"

TEST_SUITE("runtime") {
  TEST_CASE("mailbox: events posted from other threads all arrive on the loop, in order") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    constexpr int kThreads = 4;
    constexpr std::uint32_t kPerThread = 20000;
    const auto loop_thread = std::this_thread::get_id();
    std::vector<std::uint32_t> next(kThreads, 1);
    std::uint64_t received = 0;
    bool wrong_thread = false;
    bool out_of_order = false;

    gw::Mailbox* box_ptr = nullptr;
    gw::Mailbox box(&loop, [&](gw::MailboxEvent&& e) {
      wrong_thread = wrong_thread || std::this_thread::get_id() != loop_thread;
      const auto* ev = std::get_if<gw::UpstreamEvent>(&e.what);
      const auto* d = ev != nullptr ? std::get_if<gw::ev::UpstreamDelivered>(ev) : nullptr;
      if (d == nullptr) {
        out_of_order = true;
        return;
      }
      auto& expect = next[static_cast<std::size_t>(e.session_id)];
      out_of_order = out_of_order || d->token != expect;
      expect = d->token + 1;
      if (++received == std::uint64_t{kThreads} * kPerThread) box_ptr->close();
    });
    box_ptr = &box;

    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&box, t] {
        for (std::uint32_t i = 1; i <= kPerThread; ++i)
          box.post(gw::MailboxEvent{static_cast<std::uint64_t>(t),
                                    gw::UpstreamEvent{gw::ev::UpstreamDelivered{i}}});
      });
    // The loop runs while the threads post; it ends when the handler closes the mailbox.
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    for (auto& th : threads) th.join();

    CHECK(received == std::uint64_t{kThreads} * kPerThread);
    CHECK_FALSE(wrong_thread);
    CHECK_FALSE(out_of_order);
    CHECK(box.closed());
    box.post(gw::MailboxEvent{0, gw::UpstreamClosed{}});  // after close: dropped, harmless
    CHECK(uv_loop_close(&loop) == 0);
  }

  TEST_CASE("mailbox: closing with events queued drops them and the loop closes") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    int handled = 0;
    gw::Mailbox box(&loop, [&](gw::MailboxEvent&&) { ++handled; });
    box.post(gw::MailboxEvent{1, gw::UpstreamClosed{}});
    box.close();
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(handled == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
}
