#pragma once

namespace imgflow::cli {

// `imgflow lambda` (and the program run as `bootstrap`, as Lambda runs a custom runtime): the
// Lambda Runtime API loop around the handler, or with IMGFLOW_MODE=presign around the upload-URL
// endpoint (lambda/presign.h), configured from the environment (see lambda/lambda_config.h).
// Returns the exit code: 2 when the configuration is unusable (reported to Lambda as an init error
// first), 1 when the loop ends.
int run_lambda();

}  // namespace imgflow::cli
