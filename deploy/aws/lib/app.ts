// The CDK app: one env-agnostic stack named "imgflow", checked by cdk-nag's AwsSolutions pack.
// bin/imgflow.ts (what `cdk synth` runs) and the tests build it through here, so both see the
// same context and the same checks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, DefaultStackSynthesizer, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ImgflowStack } from './imgflow-stack';

export const STACK_NAME = 'imgflow';
export const PROJECT_DIR = path.resolve(__dirname, '..');
// Committed next to cdk.json; `cdk synth` writes the same file as cdk.out/imgflow.template.json.
export const TEMPLATE_FILE = path.join(PROJECT_DIR, `${STACK_NAME}.template.json`);

export interface BuildOptions {
  outdir?: string; // where synth() writes the cloud assembly (default: a temporary directory)
  nag?: boolean; // run cdk-nag during synth (default: true); synth throws on any finding
}

export function buildApp(options: BuildOptions = {}): { app: App; stack: ImgflowStack } {
  // Under `cdk synth` the CLI passes cdk.json's context itself; tests have no CLI, so the same
  // feature flags are read here.
  const cdkJson = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, 'cdk.json'), 'utf8'));
  const app = new App({
    outdir: options.outdir,
    context: cdkJson.context,
    // A stable template whatever the CLI flags: no aws:cdk:path metadata, no CDKMetadata
    // resource (which would also carry the CDK version).
    postCliContext: {
      'aws:cdk:enable-path-metadata': false,
      'aws:cdk:version-reporting': false,
    },
  });
  const stack = new ImgflowStack(app, STACK_NAME, {
    // No env: the template deploys to any account and region, and synthesis looks nothing up.
    // No bootstrap-version rule: `aws cloudformation deploy` works without the CDK bootstrap
    // stack (there are no assets; the code comes from the CodeBucket/CodeKey parameters).
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
  });
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  }
  return { app, stack };
}
