// Result tables: printed aligned for people, or as JSON for tools.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace bench {

struct Cell {
  std::string text;
  bool number = false;  // emitted unquoted in JSON
};
Cell num(double v, int decimals = 0);
Cell num(std::uint64_t v);
Cell text(std::string s);

struct Table {
  std::string name;  // JSON key
  std::string title;
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
  void add(std::vector<Cell> row) { rows.push_back(std::move(row)); }
};

void print_text(std::ostream& out, const std::vector<Table>& tables);
void print_json(std::ostream& out, const std::vector<Table>& tables, const std::string& command);

}  // namespace bench
