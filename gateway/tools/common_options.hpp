// Options both field tools share (mosquitto_pub / mosquitto_sub style), and the main() wrapper
// that turns parse errors and ToolError into exit status 1 with a message on stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "gateway/tools/client_session.hpp"

namespace mqttsn::tools {

struct CommonOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string client_id;  // empty: "<tool>-<pid>"
  std::uint16_t keep_alive = 60;
  bool no_clean_session = false;
  std::string will_topic;
  std::string will_payload;
  int will_qos = 0;
  bool will_retain = false;
  bool debug = false;
  double retry_interval_s = 5.0;
  int retry_count = 3;
  DtlsClientOptions dtls;  // DTLS when any of its flags is given
};

void add_common_options(CLI::App& app, CommonOptions& o);
// The client id to use: -i, or "<tool>-<pid>" (at most 23 characters, §5.3.1).
std::string client_id_of(const CommonOptions& o, std::string_view tool);
ConnectOptions connect_options_of(const CommonOptions& o);
// Starts DTLS on `link` when any DTLS flag was given (the handshake within the retry budget).
void start_dtls_if_asked(UdpLink& link, const CommonOptions& o);
RetryPolicy retry_policy_of(const CommonOptions& o);
// Validates a 2-character short topic name for CLI11 (empty string: valid).
std::string check_short_topic(const std::string& name);

// Parses argv into `app`, then runs `body`. Returns the process exit status: 0, or 1 after
// printing a clear message on stderr. --help exits 0.
int run_tool(CLI::App& app, int argc, char** argv, const std::function<void()>& body);

}  // namespace mqttsn::tools
