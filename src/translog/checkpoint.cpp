#include "translog/checkpoint.h"

#include <charconv>

#include "core/base64.h"
#include "fmt/format.h"

namespace aperture::translog {

std::string FormatCheckpoint(const Checkpoint& c) {
  return fmt::format("{}\n{}\n{}\n", c.origin, c.size, Base64Encode(ToBytes(c.root)));
}

absl::StatusOr<Checkpoint> ParseCheckpoint(std::string_view text) {
  if (text.empty() || text.back() != '\n') return absl::InvalidArgumentError("a checkpoint ends in a newline");
  std::string_view lines[3];
  std::string_view rest = text;
  for (std::string_view& line : lines) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      return absl::InvalidArgumentError("a checkpoint has three lines: origin, tree size, root hash");
    }
    line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  if (!rest.empty()) {
    return absl::InvalidArgumentError("the checkpoint has extension lines after the root hash; refused");
  }
  Checkpoint c;
  if (lines[0].empty()) return absl::InvalidArgumentError("the checkpoint's origin line is empty");
  c.origin = std::string(lines[0]);
  const std::string_view size = lines[1];
  auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), c.size);
  if (size.empty() || ec != std::errc() || end != size.data() + size.size() || c.size < 0 ||
      (size.size() > 1 && size[0] == '0')) {
    return absl::InvalidArgumentError(fmt::format("the checkpoint's tree size '{}' is not a decimal number", size));
  }
  const std::optional<std::string> root = Base64Decode(lines[2]);
  if (!root || root->size() != 32) {
    return absl::InvalidArgumentError("the checkpoint's root hash is not 32 bytes of base64");
  }
  c.root = *HashFromBytes(*root);
  return c;
}

}  // namespace aperture::translog
