// SIGINT/SIGTERM handling for the field tools: the first signal asks the tool to finish
// cleanly (DISCONNECT and exit 0); a second one kills it as usual.
#pragma once

namespace mqttsn::tools {

void install_stop_handlers();
bool stop_signal_received() noexcept;

}  // namespace mqttsn::tools
