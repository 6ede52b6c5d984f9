// Research results as the API answers them: a JSON object (captured
// tensors inline as nested arrays in TransformerLens's shapes, masked
// attention scores as null) or a safetensors file (one tensor per capture,
// named by site, "{input}/{site}" for `inputs`; the other fields, receipt
// included, as JSON in the header's __metadata__ under "aperture"), and the
// SHA-256 commitment the log records for it.
//
// The commitment, which a client recomputes from either form
// (docs/research.md): take the response object without "receipt"; replace
// each captured tensor by {"dtype":"F32","shape":[...],"sha256":hex of its
// little-endian float32 bytes, -inf where masked}; replace every other
// non-integer number by the string printf("%.9g") of its float32 value; hash
// the canonical JSON (sorted keys, no whitespace, UTF-8).
//
// JSON answers hold at most kMaxJsonValues captured values (4 MiB as
// float32); larger results must ask for safetensors.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/json.h"
#include "research/plan.h"
#include "research/result.h"

namespace aperture::research {

inline constexpr int64_t kMaxJsonValues = int64_t{1} << 20;

// A result ready to answer: its fields, and the tensors of each input.
struct ResultDocument {
  Json fields;  // the response object without captures and receipt
  bool single = true;
  std::vector<std::vector<Tensor>> captures;  // per input

  int64_t CapturedValues() const;
  // The commitment described above.
  std::string Sha256() const;
  // The response body with `extra` fields (receipt, usage) merged in.
  std::string JsonBody(const Json& extra) const;
  std::string SafetensorsBody(const Json& extra) const;
};

ResultDocument RunDocument(const RunPlan& plan, RunResult result);
// The steering direction: mean over the positive inputs minus mean over the negative ones.
ResultDocument DirectionDocument(const RunPlan& plan, const RunResult& result, int positive, bool normalize,
                                 const std::string& hook);
ResultDocument PatchDocument(const PatchPlan& plan, const PatchResult& result);

// The commitment of a response object that holds no tensors.
std::string CommitmentSha256(const Json& object);
// The commitment as a client recomputes it from a JSON answer: "receipt"
// dropped, each capture's nested arrays (null for masked scores) turned
// back into its descriptor. InvalidArgument if a capture is not a
// rectangular array of numbers.
absl::StatusOr<std::string> ResponseCommitment(const Json& response);

}  // namespace aperture::research
