// Checkpoints in the C2SP tlog-checkpoint format: the note text naming a
// tree (origin line, decimal size, base64 root), which a signed note carries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "translog/merkle.h"

namespace aperture::translog {

struct Checkpoint {
  std::string origin;
  int64_t size = 0;
  Hash root{};
};

// "origin\nsize\nbase64(root)\n".
std::string FormatCheckpoint(const Checkpoint& c);
// Parses a checkpoint text strictly: exactly the three lines Aperture writes
// (extension lines are refused: they are not auditable), a size without
// leading zeros, a 32-byte root.
absl::StatusOr<Checkpoint> ParseCheckpoint(std::string_view text);

}  // namespace aperture::translog
