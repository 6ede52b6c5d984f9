#include "evals/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fmt/format.h"

namespace aperture::evals {
namespace {

constexpr size_t kMaxPatternBytes = 4096;
constexpr uint32_t kMatchLimit = 1'000'000;
constexpr uint32_t kDepthLimit = 10'000;

}  // namespace

struct Regex::Code {
  pcre2_code* code = nullptr;
  pcre2_match_context* context = nullptr;
  ~Code() {
    pcre2_match_context_free(context);
    pcre2_code_free(code);
  }
};

absl::StatusOr<Regex> Regex::Compile(std::string_view pattern) {
  if (pattern.size() > kMaxPatternBytes) {
    return absl::InvalidArgumentError(
        fmt::format("the pattern is {} bytes; at most {} are allowed", pattern.size(), kMaxPatternBytes));
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  auto code = std::make_shared<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.empty() ? "" : pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(
        fmt::format("invalid regex at offset {}: {}", offset, reinterpret_cast<const char*>(message)));
  }
  code->context = pcre2_match_context_create(nullptr);
  if (code->context == nullptr) return absl::ResourceExhaustedError("out of memory compiling a regex");
  pcre2_set_match_limit(code->context, kMatchLimit);
  pcre2_set_depth_limit(code->context, kDepthLimit);
  return Regex(std::move(code));
}

bool Regex::Search(std::string_view text) const {
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (data == nullptr) return false;
  const int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.empty() ? "" : text.data()), text.size(), 0,
                             0, data, code_->context);
  pcre2_match_data_free(data);
  return rc >= 0;
}

}  // namespace aperture::evals
