// Every SHOAL_* tunable is declared once in config_table.inc (name, default,
// doc). Reading an undeclared name is a programming error and aborts.
#pragma once

#include <cstddef>
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
// A tunable read before every call, as cheaply as the environment allows:
// getenv compares the name against every variable, so the entry's place in
// `environ` is remembered and the scan is redone only when the environment
// was changed (setenv/putenv/unsetenv replace or move that pointer, or grow
// or shrink the array). Writing into a string already handed to putenv is
// not seen. One per user; not thread-safe.
class EnvWatch {
 public:
  explicit EnvWatch(const char* name);
  // The current value (or the default); *changed when it differs from what
  // the previous read returned (true on the first read).
  const char* read(bool* changed);

 private:
  const char* name_;
  const char* default_;
  size_t nameLen_;
  bool primed_ = false;
  char** env_ = nullptr;  // environ at the last scan
  size_t count_ = 0;      // its entries
  ptrdiff_t index_ = -1;  // where the variable was, or -1
  const char* entry_ = nullptr;
  std::string value_;
};
long long getInt(const char* name);
double getDouble(const char* name);
bool getBool(const char* name);
// Parses sizes such as 4M, 512K, 1G.
size_t getSize(const char* name);
// All declared tunables with their current values, for shoal-info.
std::vector<Entry> all();

}  // namespace shoal::config
