// Every SHOAL_* tunable is declared once in config_table.inc (name, default,
// doc). Reading an undeclared name is a programming error and aborts.
#pragma once

#include <string>
#include <vector>

namespace shoal::config {

struct Entry {
  const char* name;
  const char* defaultValue;
  const char* doc;
  std::string value;   // effective value
  std::string source;  // "default" or "env"
};

std::string getString(const char* name);
// A tunable read on every call: looked up in the table once, then each read
// is one getenv; raw() is valid until the environment changes.
class Tunable {
 public:
  explicit Tunable(const char* name);
  const char* raw() const;

 private:
  const char* name_;
  const char* default_;
};
long long getInt(const char* name);
double getDouble(const char* name);
bool getBool(const char* name);
// Parses sizes such as 4M, 512K, 1G.
size_t getSize(const char* name);
// All declared tunables with their current values, for shoal-info.
std::vector<Entry> all();

}  // namespace shoal::config
