// sockerless-monitor: the helper roles of the memory backend (container monitor, archive
// relay, exec relay) in a binary that loads only what they need.
#include <iostream>
#include <string>
#include <vector>

#include "monitor/roles.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  if (auto code = sockerless::monitor::run_role(args)) return *code;
  std::cerr << "sockerless-monitor: started by sockerlessd only (monitor|archive|exec-relay DIR)"
            << std::endl;
  return 2;
}
