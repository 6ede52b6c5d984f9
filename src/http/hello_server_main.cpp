// A trivial server for load tests of the transport alone:
//   http_hello_server [port] [threads]
// answers every request with a small JSON body until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "http/server.h"

int main(int argc, char** argv) {
  aperture::http::ServerOptions options;
  options.port = argc > 1 ? static_cast<uint16_t>(std::atoi(argv[1])) : 0;
  options.threads = argc > 2 ? std::atoi(argv[2]) : 0;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // Block before the io threads start so they inherit the mask.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = aperture::http::Server::Start(options, [](aperture::http::Request&) {
    aperture::http::Response response;
    response.body = R"({"object":"list","data":[]})";
    return response;
  });
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", (*server)->port());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  (*server)->Stop();
  return 0;
}
