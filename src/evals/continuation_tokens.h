// Tokenizing a multiple-choice item as lm-evaluation-harness does: the
// context is the question as the suite gives it, the continuation is the
// target delimiter " " followed by the choice; whitespace at the end of the
// context moves to the front of the continuation; the context is encoded
// alone (with BOS as the model asks) and the continuation's tokens are the
// tokens of context + continuation after the context's. Thread-safe (pure).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace aperture::evals {

inline constexpr std::string_view kTargetDelimiter = " ";

struct EncodedItem {
  std::vector<int32_t> context;
  std::vector<std::vector<int32_t>> continuations;  // one per choice, never empty
};

EncodedItem EncodeMultipleChoice(const engine::Tokenizer& tokenizer, std::string_view question,
                                 const std::vector<std::string>& choices);

}  // namespace aperture::evals
