// cdk-nag's AwsSolutions pack finds nothing that is not acknowledged with a reason, the template
// passes CloudFormation's resource schemas, and synthesis leaves no warning or error behind.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../lib/app';
import { tempDir } from './support';

function findings(mutate?: (stack: ReturnType<typeof buildApp>['stack']) => void): string[] {
  const { app, stack } = buildApp({ outdir: tempDir(), nag: false });
  mutate?.(stack);
  const report = new AwsSolutionsChecks(app, { verbose: true }).validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}: ${v.description}`),
  );
}

test('AwsSolutions: no unacknowledged finding', () => {
  assert.deepEqual(findings(), []);
});

test('AwsSolutions: the check is live (a wildcard action added to the function role is found)', () => {
  const found = findings((stack) => {
    const role = stack.node.findChild('FunctionRole') as Role;
    role.addToPolicy(new PolicyStatement({ actions: ['s3:GetObject*'], resources: ['*'] }));
  });
  assert.ok(
    found.some((f) => f.startsWith('AwsSolutions-IAM5[Action::s3:GetObject*]')),
    `expected an IAM5 finding, got ${JSON.stringify(found)}`,
  );
});

test('synthesis with the checks registered (as cdk synth runs them) succeeds, with no warnings', () => {
  const { app, stack } = buildApp({ outdir: tempDir(), nag: true });
  app.synth(); // a policy-validation violation throws here
  const annotations = Annotations.fromStack(stack);
  assert.deepEqual(annotations.findError('*', Match.anyValue()), []);
  assert.deepEqual(annotations.findWarning('*', Match.anyValue()), []);
});

test('synthesis checks the template against the CloudFormation resource schemas', () => {
  // cdk.json's @aws-cdk/core:validateAgainstDefaultRules makes a schema violation an error, so
  // a misspelt property (here RecursiveLoops) cannot reach the committed template.
  const outdir = tempDir();
  const { app, stack } = buildApp({ outdir, nag: false });
  const fn = stack.node.findChild('Function').node.defaultChild as CfnFunction;
  fn.addPropertyOverride('RecursiveLoops', 'Terminate');
  assert.throws(() => quietly(() => app.synth()), /Validation failed/);
  const report = fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8');
  assert.match(report, /'RecursiveLoops' was unexpected/);
});

// Runs f without the validation report CDK prints for the failure provoked on purpose above, so
// that the test log shows no ERROR line for a check that did what it should.
function quietly<T>(f: () => T): T {
  const { log, error, warn } = console;
  console.log = console.error = console.warn = () => {};
  try {
    return f();
  } finally {
    Object.assign(console, { log, error, warn });
  }
}
