#include "gateway/tools/stop_signal.hpp"

#include <csignal>

namespace mqttsn::tools {

namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: poll() returns EINTR so the tool notices at once.
  sa.sa_flags = static_cast<int>(SA_RESETHAND);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_signal_received() noexcept {
  return g_stop != 0;
}

}  // namespace mqttsn::tools
