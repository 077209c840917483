// Child processes (mosquitto, the gateway), free loopback ports, and /proc figures.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// Starts argv[0] with stdout/stderr appended to log_path; the child dies with us (PDEATHSIG).
// Returns -1 on failure.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path);
pid_t spawn_child(const std::vector<std::string>& argv, const std::string& log_path);
// SIGINT/SIGTERM/SIGHUP kill the children spawned and still running, then end us as the signal
// would.
void stop_children_on_signals();
// SIGTERM, then SIGKILL after `grace`; reaps the child.
void stop(pid_t pid, std::chrono::milliseconds grace);
bool alive(pid_t pid);

// A loopback port nobody uses right now (SOCK_STREAM or SOCK_DGRAM).
std::uint16_t free_port(int type);
bool wait_tcp(std::uint16_t port, std::chrono::milliseconds timeout);

// Raises RLIMIT_NOFILE to the hard limit (children inherit it). Returns the new soft limit.
std::uint64_t raise_fd_limit();

struct ProcStats {
  bool ok = false;
  std::uint64_t rss_kb = 0;  // VmRSS
  unsigned threads = 0;      // Threads
  double cpu_s = 0;          // time on a CPU, all threads (schedstat ns; else utime + stime)
};
ProcStats read_proc(pid_t pid);

// Datagrams the kernel dropped because a UDP receive buffer was full (/proc/net/snmp
// Udp RcvbufErrors; machine-wide, so read it as a delta around a step).
std::uint64_t udp_receive_buffer_errors();

// mkdtemp under /tmp.
std::string make_temp_dir();
// Whole file as text via read(2) (small /proc files and logs); empty when unreadable.
std::string read_file(const std::string& path);
bool write_file(const std::string& path, const std::string& text);

}  // namespace bench
