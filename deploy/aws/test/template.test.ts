// The committed template is what `cdk synth` makes, and stays deployable without Node.js.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildApp, STACK_NAME, TEMPLATE_FILE } from '../lib/app';
import { tempDir } from './support';

const outdir = tempDir();
buildApp({ outdir }).app.synth();
const synthesized = fs.readFileSync(path.join(outdir, `${STACK_NAME}.template.json`), 'utf8');
const committed = fs.readFileSync(TEMPLATE_FILE, 'utf8');

test('the committed imgflow.template.json is what synthesis makes (else: npm run template)', () => {
  if (committed === synthesized) return;
  const a = committed.split('\n');
  const b = synthesized.split('\n');
  let line = 0;
  while (line < a.length && a[line] === b[line]) line++;
  assert.fail(
    `imgflow.template.json differs from synthesis from line ${line + 1}:\n` +
      `  committed:   ${a.slice(line, line + 3).join('\n               ')}\n` +
      `  synthesized: ${b.slice(line, line + 3).join('\n               ')}\n` +
      'Run `npm run template` in deploy/aws and commit imgflow.template.json.',
  );
});

test('the template has no CDK metadata, bootstrap version check or asset', () => {
  const t = JSON.parse(committed);
  assert.ok(!('Metadata' in t), 'no template metadata');
  assert.ok(!('CDKMetadata' in t.Resources), 'no version reporting resource');
  assert.ok(!('BootstrapVersion' in t.Parameters), 'no bootstrap version parameter');
  assert.ok(!('CheckBootstrapVersion' in (t.Rules ?? {})), 'no bootstrap version rule');
  for (const [id, r] of Object.entries<any>(t.Resources)) {
    assert.ok(!('Metadata' in r), `${id}: no aws:cdk:path or asset metadata`);
  }
  assert.ok(!committed.includes('cdk-hnb659fds'), 'no reference to the CDK bootstrap stack');
});

test('the template fits in CloudFormation from S3 (1 MB), as `aws cloudformation deploy --s3-bucket`', () => {
  // Over 51,200 bytes, CloudFormation takes a template only from S3: the README's deploy
  // command passes --s3-bucket (the bucket that already holds the code).
  assert.ok(Buffer.byteLength(committed) <= 1_000_000, `${Buffer.byteLength(committed)} bytes`);
});
