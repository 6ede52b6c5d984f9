#include "engine/gguf/ggml_type.h"

#include <array>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "core/ascii.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

constexpr uint64_t kMaxSize = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

struct Entry {
  uint32_t id;
  GgmlTypeInfo info;
};

constexpr std::array<Entry, 29> kTypes = {{
    {0, {"f32", 1, 4}},           {1, {"f16", 1, 2}},           {2, {"q4_0", 32, 18}},
    {3, {"q4_1", 32, 20}},        {6, {"q5_0", 32, 22}},        {7, {"q5_1", 32, 24}},
    {8, {"q8_0", 32, 34}},        {9, {"q8_1", 32, 36}},        {10, {"q2_K", kQK_K, 84}},
    {11, {"q3_K", kQK_K, 110}},   {12, {"q4_K", kQK_K, 144}},   {13, {"q5_K", kQK_K, 176}},
    {14, {"q6_K", kQK_K, 210}},   {15, {"q8_K", kQK_K, 292}},   {16, {"iq2_xxs", kQK_K, 66}},
    {17, {"iq2_xs", kQK_K, 74}},  {18, {"iq3_xxs", kQK_K, 98}}, {19, {"iq1_s", kQK_K, 50}},
    {20, {"iq4_nl", 32, 18}},     {21, {"iq3_s", kQK_K, 110}},  {22, {"iq2_s", kQK_K, 82}},
    {23, {"iq4_xs", kQK_K, 136}}, {24, {"i8", 1, 1}},           {25, {"i16", 1, 2}},
    {26, {"i32", 1, 4}},          {27, {"i64", 1, 8}},          {28, {"f64", 1, 8}},
    {29, {"iq1_m", kQK_K, 56}},   {30, {"bf16", 1, 2}},
}};

}  // namespace

std::optional<GgmlTypeInfo> GetGgmlTypeInfo(uint32_t id) {
  for (const Entry& e : kTypes) {
    if (e.id == id) return e.info;
  }
  return std::nullopt;
}

bool IsKnownGgmlType(uint32_t id) { return GetGgmlTypeInfo(id).has_value(); }

bool IsEngineSupportedType(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kIQ4_XS:
      return true;
    default:
      return false;
  }
}

const char* GgmlTypeName(GgmlType t) {
  auto info = GetGgmlTypeInfo(t);
  return info ? info->name : "unknown";
}

std::optional<GgmlType> GgmlTypeFromName(std::string_view name) {
  for (const Entry& e : kTypes) {
    if (EqualsIgnoreCase(name, e.info.name)) return static_cast<GgmlType>(e.id);
  }
  return std::nullopt;
}

absl::StatusOr<uint64_t> GgmlRowBytes(GgmlType t, uint64_t n_elements) {
  auto info = GetGgmlTypeInfo(t);
  if (!info) {
    return absl::InvalidArgumentError(fmt::format("unknown ggml type id {}", static_cast<uint32_t>(t)));
  }
  const uint64_t block = static_cast<uint64_t>(info->block_size);
  if (n_elements % block != 0) {
    return absl::InvalidArgumentError(
        fmt::format("{} elements is not a multiple of the {} block size {}", n_elements, info->name, block));
  }
  const uint64_t blocks = n_elements / block;
  const uint64_t type_size = static_cast<uint64_t>(info->type_size);
  if (blocks > kMaxSize / type_size) {
    return absl::InvalidArgumentError(fmt::format("size of {} {} elements overflows", n_elements, info->name));
  }
  return blocks * type_size;
}

absl::StatusOr<uint64_t> GgmlElementCount(std::span<const int64_t> dims) {
  uint64_t n = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      return absl::InvalidArgumentError(fmt::format("dimension {} is negative ({})", i, dims[i]));
    }
    const uint64_t d = static_cast<uint64_t>(dims[i]);
    if (d != 0 && n > kMaxSize / d) {
      return absl::InvalidArgumentError("product of dimensions overflows 63 bits");
    }
    n *= d;
  }
  return n;
}

absl::StatusOr<uint64_t> GgmlTensorBytes(GgmlType t, std::span<const int64_t> dims) {
  auto count = GgmlElementCount(dims);
  if (!count.ok()) return count.status();
  auto info = GetGgmlTypeInfo(t);
  if (!info) {
    return absl::InvalidArgumentError(fmt::format("unknown ggml type id {}", static_cast<uint32_t>(t)));
  }
  const int64_t row = dims.empty() ? 1 : dims[0];
  if (row % info->block_size != 0) {
    return absl::InvalidArgumentError(
        fmt::format("row length {} is not a multiple of the {} block size {}", row, info->name, info->block_size));
  }
  return GgmlRowBytes(t, *count);
}

}  // namespace aperture::engine
