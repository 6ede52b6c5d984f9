// ServerProcess: `aperture serve` as a child process on a free port, for
// tests that kill a server (kill -9) or run several at once (replicas,
// remote backends). The child inherits the environment (APERTURE_STORE
// among it).
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace aperture::testing {

class ServerProcess {
 public:
  // Runs `aperture serve --data DATA --listen 127.0.0.1:0 ARGS...` and waits
  // for its "listening on" line; port() is 0 if it never came.
  ServerProcess(const std::string& data, const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) return;
    std::vector<std::string> argv = {APERTURE_BINARY, "serve", "--data", data, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> raw;
      for (std::string& a : argv) raw.push_back(a.data());
      raw.push_back(nullptr);
      ::execv(APERTURE_BINARY, raw.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // "aperture listening on http://127.0.0.1:PORT", after any log lines.
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1) {
      if (c != '\n') {
        line += c;
      } else if (line.find("listening on http://") != std::string::npos) {
        break;
      } else {
        line.clear();
      }
    }
    // Kept open: a server writing to a closed pipe would die of SIGPIPE.
    out_fd_ = out[0];
    const size_t colon = line.rfind(':');
    if (colon != std::string::npos) port_ = static_cast<uint16_t>(std::atoi(line.c_str() + colon + 1));
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() { Kill(SIGTERM); }

  // Sends `signal` and waits for the process to end.
  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    ::close(out_fd_);
  }
  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace aperture::testing
