#include "distribution/file_digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/hex.h"
#include "fmt/format.h"

namespace aperture::distribution {
namespace {

constexpr size_t kBlock = size_t{1} << 20;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

std::string FileIdentity::Key() const { return fmt::format("{}:{}:{}:{}:{}", device, inode, size, mtime_ns, ctime_ns); }

absl::StatusOr<FileIdentity> IdentifyFile(int fd, std::string_view name) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::UnavailableError(fmt::format("cannot stat {}: {}", name, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(fmt::format("{} is not a regular file", name));
  FileIdentity id;
  id.device = static_cast<uint64_t>(st.st_dev);
  id.inode = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return id;
}

absl::StatusOr<std::string> Sha256OfFile(int fd, std::string_view name) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("cannot start a SHA-256 digest");
  }
  std::vector<char> block(kBlock);
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, block.data(), block.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(fmt::format("cannot read {}: {}", name, std::strerror(errno)));
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), block.data(), static_cast<size_t>(n)) != 1) {
      return absl::InternalError("SHA-256 update failed");
    }
    offset += n;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1 || length != 32) {
    return absl::InternalError("SHA-256 final failed");
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

absl::StatusOr<std::string> Sha256OfPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  absl::StatusOr<std::string> digest = Sha256OfFile(fd, path);
  ::close(fd);
  return digest;
}

}  // namespace aperture::distribution
