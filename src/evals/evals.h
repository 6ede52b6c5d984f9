// The evaluation library in one include: suites and their parser, results
// and metrics, the runner (through the scheduler) and the progress bar.
// See docs/evals.md.
#pragma once

#include "evals/eval_runner.h"   // IWYU pragma: export
#include "evals/progress_bar.h"  // IWYU pragma: export
#include "evals/results.h"       // IWYU pragma: export
#include "evals/suite.h"         // IWYU pragma: export
#include "evals/suite_parser.h"  // IWYU pragma: export
