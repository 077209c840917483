// systemd service notifications (sd_notify): READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
// Without libsystemd, or when not started by systemd (no NOTIFY_SOCKET), every call does nothing.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <string>

namespace gw {

class Notifier {
 public:
  // `status` is asked for the STATUS= text on every tick; it is sent when it changed.
  Notifier(uv_loop_t* loop, std::function<std::string()> status);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // READY=1 with the first STATUS=, then the tick timer: WATCHDOG=1 at half of WATCHDOG_USEC
  // (when systemd asks for a watchdog), STATUS= refreshed at least every few seconds.
  void ready();
  void stopping();
  // Closes the timer (the loop can then end).
  void close();

  bool watchdog_enabled() const noexcept { return watchdog_ != std::chrono::microseconds{0}; }

 private:
  void tick();
  void send_status(bool force);

  uv_timer_t timer_{};
  std::function<std::string()> status_;
  std::string last_status_;
  std::chrono::microseconds watchdog_{0};
  bool closed_ = false;
};

}  // namespace gw
