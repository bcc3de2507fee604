#include "core/config.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shoal::config {

namespace {

struct Decl {
  const char* name;
  const char* defaultValue;
  const char* doc;
};

const Decl kTable[] = {
#define SHOAL_TUNABLE(name, def, doc) {#name, def, doc},
#include "core/config_table.inc"
#undef SHOAL_TUNABLE
};

const Decl& find(const char* name) {
  for (const auto& d : kTable) {
    if (strcmp(d.name, name) == 0) return d;
  }
  // An undeclared tunable is a bug in shoal itself, not a user error.
  fprintf(stderr, "shoal: internal error: tunable %s is not declared in config_table.inc\n", name);
  abort();
}

}  // namespace

std::string getString(const char* name) {
  const Decl& d = find(name);
  const char* v = getenv(d.name);
  return v ? v : d.defaultValue;
}

EnvWatch::EnvWatch(const char* name) {
  const Decl& d = find(name);
  name_ = d.name;
  default_ = d.defaultValue;
  nameLen_ = strlen(name_);
}

const char* EnvWatch::read(bool* changed) {
  char** env = environ;
  if (primed_ && env == env_ && env != nullptr) {
    const bool same = index_ >= 0 ? env[index_] == entry_
                                  : env[count_] == nullptr && (count_ == 0 || env[count_ - 1]);
    if (same) {
      *changed = false;
      return value_.c_str();
    }
  }
  env_ = env;
  index_ = -1;
  entry_ = nullptr;
  count_ = 0;
  for (; env && env[count_]; ++count_) {
    const char* e = env[count_];
    if (index_ < 0 && strncmp(e, name_, nameLen_) == 0 && e[nameLen_] == '=') {
      index_ = static_cast<ptrdiff_t>(count_);
      entry_ = e;
    }
  }
  const char* v = entry_ ? entry_ + nameLen_ + 1 : default_;
  *changed = !primed_ || value_ != v;
  primed_ = true;
  value_ = v;
  return value_.c_str();
}

long long getInt(const char* name) {
  std::string s = getString(name);
  if (s.empty()) return 0;
  return strtoll(s.c_str(), nullptr, 0);
}

double getDouble(const char* name) {
  std::string s = getString(name);
  return s.empty() ? 0.0 : strtod(s.c_str(), nullptr);
}

bool getBool(const char* name) {
  std::string s = getString(name);
  return !(s.empty() || s == "0" || s == "n" || s == "no" || s == "false" || s == "off" ||
           s == "N" || s == "NO" || s == "FALSE" || s == "OFF");
}

size_t getSize(const char* name) {
  std::string s = getString(name);
  if (s.empty()) return 0;
  char* end = nullptr;
  double v = strtod(s.c_str(), &end);
  switch (end && *end ? *end : ' ') {
    case 'k':
    case 'K':
      v *= 1024.0;
      break;
    case 'm':
    case 'M':
      v *= 1024.0 * 1024.0;
      break;
    case 'g':
    case 'G':
      v *= 1024.0 * 1024.0 * 1024.0;
      break;
    default:
      break;
  }
  return v < 0 ? 0 : static_cast<size_t>(v);
}

std::vector<Entry> all() {
  std::vector<Entry> out;
  for (const auto& d : kTable) {
    const char* v = getenv(d.name);
    out.push_back({d.name, d.defaultValue, d.doc, v ? v : d.defaultValue, v ? "env" : "default"});
  }
  return out;
}

}  // namespace shoal::config
