#include "common/files.h"

#include <fstream>
#include <sstream>

namespace sockerless {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  if (in) s << in.rdbuf();
  return s.str();
}

}  // namespace sockerless
