#include "evals/continuation_tokens.h"

#include <string>

namespace aperture::evals {

EncodedItem EncodeMultipleChoice(const engine::Tokenizer& tokenizer, std::string_view question,
                                 const std::vector<std::string>& choices) {
  // Trailing whitespace of the context belongs to the continuation (lm-eval's _encode_pair).
  const size_t kept = question.find_last_not_of(" \t\n\r\f\v");
  const std::string_view context = kept == std::string_view::npos ? std::string_view() : question.substr(0, kept + 1);
  const std::string_view moved = question.substr(context.size());

  EncodedItem out;
  out.context = tokenizer.Encode(context, /*add_special=*/true, /*parse_special=*/false);
  for (const std::string& choice : choices) {
    std::string continuation(moved);
    continuation += kTargetDelimiter;
    continuation += choice;
    const std::vector<int32_t> whole =
        tokenizer.Encode(std::string(context) + continuation, /*add_special=*/true, /*parse_special=*/false);
    std::vector<int32_t> tokens;
    if (whole.size() > out.context.size()) tokens.assign(whole.begin() + out.context.size(), whole.end());
    // Only if the joint encoding ends up no longer than the context's (it
    // cannot for SentencePiece or byte-level BPE): encode the continuation alone.
    if (tokens.empty()) tokens = tokenizer.Encode(continuation, /*add_special=*/false, /*parse_special=*/false);
    out.continuations.push_back(std::move(tokens));
  }
  return out;
}

}  // namespace aperture::evals
