#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>

namespace bench {

Cell num(double v, int decimals) {
  if (!std::isfinite(v)) return Cell{"null", true};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return Cell{buf, true};
}
Cell num(std::uint64_t v) {
  return Cell{std::to_string(v), true};
}
Cell text(std::string s) {
  return Cell{std::move(s), false};
}

void print_text(std::ostream& out, const std::vector<Table>& tables) {
  for (const auto& t : tables) {
    out << "\n== " << t.title << " ==\n";
    std::vector<std::size_t> width;
    for (const auto& c : t.columns) width.push_back(c.size());
    for (const auto& r : t.rows) {
      for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) {
        width[i] = std::max(width[i], r[i].text.size());
      }
    }
    auto line = [&](auto cell_text, auto is_number) {
      for (std::size_t i = 0; i < width.size(); ++i) {
        out << (is_number(i) ? std::right : std::left) << std::setw(static_cast<int>(width[i]))
            << cell_text(i) << (i + 1 < width.size() ? "  " : "\n");
      }
    };
    line([&](std::size_t i) { return t.columns[i]; }, [](std::size_t) { return false; });
    for (const auto& r : t.rows) {
      line(
          [&](std::size_t i) {
            return i < r.size() ? (r[i].text == "null" ? "-" : r[i].text) : "";
          },
          [&](std::size_t i) { return i < r.size() && r[i].number; });
    }
  }
  out << std::flush;
}

namespace {
std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      q += ' ';
      continue;
    }
    q += c;
  }
  return q + "\"";
}
}  // namespace

void print_json(std::ostream& out, const std::vector<Table>& tables, const std::string& command) {
  out << "{\n  \"command\": " << quoted(command) << ",\n  \"tables\": {";
  for (std::size_t ti = 0; ti < tables.size(); ++ti) {
    const auto& t = tables[ti];
    out << (ti ? "," : "") << "\n    " << quoted(t.name) << ": {\"title\": " << quoted(t.title)
        << ", \"rows\": [";
    for (std::size_t ri = 0; ri < t.rows.size(); ++ri) {
      out << (ri ? "," : "") << "\n      {";
      for (std::size_t i = 0; i < t.rows[ri].size() && i < t.columns.size(); ++i) {
        const auto& c = t.rows[ri][i];
        out << (i ? ", " : "") << quoted(t.columns[i]) << ": "
            << (c.number ? c.text : quoted(c.text));
      }
      out << "}";
    }
    out << "]}";
  }
  out << "\n  }\n}\n" << std::flush;
}

}  // namespace bench
