// SIGHUP reload: what of a new configuration can change while the gateway runs, and what changed.
#pragma once

#include <string>
#include <vector>

#include "gateway/core/session_types.hpp"
#include "gateway/service/config.hpp"

namespace gw {

struct ReloadPlan {
  std::vector<std::string> changes;  // "log_level info -> debug", "predefined topics: +2 -1"
  std::vector<std::string> ignored;  // keys that changed but need a restart
};

// Compares `old_config` with `fresh`. `log_level_pinned`: --log-level was given, the file's level
// does not apply.
ReloadPlan plan_reload(const Config& old_config, const Config& fresh, bool log_level_pinned);

// Replaces the set every session resolves through with `wanted`, whole.
void apply_predefined(PredefinedTopics& live, const std::map<std::uint16_t, std::string>& wanted);

}  // namespace gw
