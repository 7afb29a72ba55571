#!/usr/bin/env bash
# Checks the AWS stack, as CI runs it (ctest: aws_stack_test): installs the pinned npm packages,
# type-checks the app, runs the template tests (node --test), then checks that `cdk synth`, run
# the way a user runs it (cdk.json → tsx → bin/imgflow.ts), writes the committed
# imgflow.template.json byte for byte. Needs Node.js >= 20 and npm; no AWS account or credentials.
set -euo pipefail
cd "$(dirname "$0")"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool not found (scripts/install-deps installs it)" >&2; exit 1; }
done

export CDK_DISABLE_CLI_TELEMETRY=true  # the CLI sends usage data unless told not to
export AWS_EC2_METADATA_DISABLED=true  # synth needs no credentials: never probe for them

# No install scripts: none of these packages needs one (esbuild's only checks the platform binary
# that its optional dependency already brings), and none of their code runs at install time.
npm ci --no-audit --no-fund --ignore-scripts
npx tsc -p .
node --import tsx --test test/*.test.ts

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx cdk synth --quiet --no-notices --output "$out" >/dev/null
if ! cmp -s "$out/imgflow.template.json" imgflow.template.json; then
  diff -u imgflow.template.json "$out/imgflow.template.json" | head -40 >&2
  echo "test.sh: cdk synth no longer makes the committed imgflow.template.json;" \
       "run 'npm run template' in deploy/aws and commit it" >&2
  exit 1
fi
echo "test.sh: cdk synth matches imgflow.template.json"
