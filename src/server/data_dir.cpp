#include "server/data_dir.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/random.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

absl::Status WriteSecretFile(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::PermissionDeniedError(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return absl::InternalError(fmt::format("cannot write {}", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status InitDataDir(const DataDir& dir) {
  std::error_code ec;
  std::vector<std::string> files = {dir.signing_key(), dir.hash_secret(), dir.manifest_key()};
  if (dir.store.empty()) files.push_back(dir.database());
  for (const std::string& f : files) {
    if (std::filesystem::exists(f, ec)) {
      return absl::AlreadyExistsError(
          fmt::format("{} is already initialised ({} exists); nothing was changed", dir.path, f));
    }
  }
  std::filesystem::create_directories(dir.path, ec);
  if (ec) return absl::PermissionDeniedError(fmt::format("cannot create {}: {}", dir.path, ec.message()));
  ::chmod(dir.path.c_str(), 0700);
  InitCrypto();
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  absl::Status s = WriteSecretFile(dir.signing_key(), std::string(reinterpret_cast<char*>(sk), sizeof sk));
  sodium_memzero(sk, sizeof sk);
  if (!s.ok()) return s;
  RETURN_IF_ERROR(WriteSecretFile(dir.hash_secret(), RandomBytes(32)));
  return OpenManifestKey(dir).status();
}

absl::StatusOr<std::string> ReadHashSecret(const DataDir& dir) {
  const std::string path = dir.hash_secret();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(fmt::format(
        "{} is not an Aperture data directory (no hash.key); run `aperture init --data {}` first", dir.path, dir.path));
  }
  if (st.st_mode & 077) {
    return absl::PermissionDeniedError(fmt::format("{} must be readable by its owner only (chmod 600)", path));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::PermissionDeniedError(fmt::format("cannot read {}", path));
  std::string secret(32, '\0');
  ssize_t n = ::read(fd, secret.data(), secret.size());
  ::close(fd);
  if (n != 32) return absl::DataLossError(fmt::format("{} is damaged: expected 32 bytes", path));
  return secret;
}

absl::StatusOr<distribution::EcdsaP256Signer> OpenManifestKey(const DataDir& dir) {
  const std::string path = dir.manifest_key();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ASSIGN_OR_RETURN(distribution::EcdsaP256Signer created, distribution::EcdsaP256Signer::Generate());
    ASSIGN_OR_RETURN(std::string pem, created.PrivatePem());
    absl::Status written = WriteSecretFile(path, pem);
    sodium_memzero(pem.data(), pem.size());
    if (written.ok()) return created;
    // Another process created it first: use theirs.
    if (::stat(path.c_str(), &st) != 0) return written;
  }
  if (st.st_mode & 077) {
    return absl::PermissionDeniedError(fmt::format("{} must be readable by its owner only (chmod 600)", path));
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::PermissionDeniedError(fmt::format("cannot read {}", path));
  std::string pem(16 * 1024, '\0');
  ssize_t n = ::read(fd, pem.data(), pem.size());
  ::close(fd);
  if (n <= 0) return absl::DataLossError(fmt::format("{} is empty or unreadable", path));
  pem.resize(static_cast<size_t>(n));
  absl::StatusOr<distribution::EcdsaP256Signer> key = distribution::EcdsaP256Signer::FromPem(pem);
  sodium_memzero(pem.data(), pem.size());
  if (!key.ok()) {
    return absl::DataLossError(fmt::format("{} is damaged: {}", path, std::string(key.status().message())));
  }
  return key;
}

}  // namespace aperture
