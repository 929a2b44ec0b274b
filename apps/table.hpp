#pragma once
// Column-aligned text tables and human-readable sizes for CLI output.
#include <iosfwd>
#include <string>
#include <vector>

namespace tilesparse::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& os) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string human_bytes(std::size_t bytes);
std::string percent(double share, int decimals = 2);

}  // namespace tilesparse::cli
