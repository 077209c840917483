#include "gateway/service/notify.hpp"

#include <algorithm>
#include <cstdint>

#ifdef MQTTSN_WITH_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace gw {
namespace {

void notify(const std::string& text) {
#ifdef MQTTSN_WITH_SYSTEMD
  sd_notify(0, text.c_str());
#else
  (void)text;
#endif
}

constexpr std::chrono::milliseconds kStatusEvery{5000};

}  // namespace

Notifier::Notifier(uv_loop_t* loop, std::function<std::string()> status)
    : status_(std::move(status)) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
#ifdef MQTTSN_WITH_SYSTEMD
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
#endif
}

void Notifier::ready() {
  if (closed_) return;
  last_status_ = status_();
  notify("READY=1\nSTATUS=" + last_status_);
  if (watchdog_enabled()) notify("WATCHDOG=1");
  auto every = kStatusEvery;
  if (watchdog_enabled())
    every = std::min(
        every, std::max(std::chrono::milliseconds(1),
                        std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_ / 2)));
  const auto ms = static_cast<std::uint64_t>(every.count());
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<Notifier*>(t->data)->tick(); }, ms, ms);
}

void Notifier::tick() {
  if (watchdog_enabled()) notify("WATCHDOG=1");
  send_status(false);
}

void Notifier::send_status(bool force) {
  std::string s = status_();
  if (!force && s == last_status_) return;
  last_status_ = std::move(s);
  notify("STATUS=" + last_status_);
}

void Notifier::stopping() {
  if (closed_) return;
  notify("STOPPING=1\nSTATUS=stopping");
}

void Notifier::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

}  // namespace gw
