// The engine's command-line subcommands: `generate`, `tokenize`, `bench` and
// `model make-test` (see AddEngineCommands). main() registers them.
#pragma once

#include "CLI/CLI.hpp"

namespace aperture {

// Registers on `app`:
//   generate --model PATH --prompt TEXT [--max-tokens N --temperature T --top-p P
//            --seed S --threads N] [--json]      prints the prompt and its continuation
//   tokenize --model PATH [--no-bos] TEXT      prints token ids on one line
//   bench --model PATH [--threads N]           prints pp128, tg64 and peak RSS
//   model make-test --out PATH [--arch llama|qwen2|qwen3|phi3|gemma2|gemma3] --layers L
//            --dim D --heads H --kv-heads K --ffn F --vocab V
//            --type f32|f16|bf16|q8_0|q4_0|q4_1|q2_k|q3_k|q4_k|q5_k|q6_k|iq4_xs|q4_k_m|q5_k_m
//            --seed S [--untied] [--rope-base B --head-dim N --rope-dim N --sliding-window N
//            --attn-softcap C --final-softcap C --rope-scale F --original-context N]
// A failing command prints the error to stderr and exits with status 1.
void AddEngineCommands(CLI::App& app);

}  // namespace aperture
