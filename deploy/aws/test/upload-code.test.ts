// upload-code, against a stand-in `aws` that records its calls: the key names the zip's
// SHA-256, an object already there is not uploaded again, and stdout is only the parameters.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PROJECT_DIR } from '../lib/app';
import { tempDir } from './support';

const script = path.join(PROJECT_DIR, 'upload-code');

// A fake AWS CLI: logs its arguments; head-object succeeds only if EXISTING is set.
function fakeAws(dir: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, 'aws'),
    '#!/usr/bin/env bash\n' +
      'echo "$*" >> "$AWS_LOG"\n' +
      'if [[ "$2" == head-object ]]; then [[ -n "${EXISTING:-}" ]]; exit; fi\n',
    { mode: 0o755 },
  );
  return bin;
}

function run(args: string[], env: Record<string, string> = {}) {
  const dir = tempDir();
  const zip = path.join(dir, 'function.zip');
  fs.writeFileSync(zip, 'not really a zip');
  const log = path.join(dir, 'aws.log');
  fs.writeFileSync(log, '');
  const r = spawnSync(script, [...args, '--zip', zip], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${fakeAws(dir)}:${process.env.PATH}`, AWS_LOG: log, ...env },
  });
  const sha = createHash('sha256').update('not really a zip').digest('hex');
  return { ...r, zip, sha, calls: fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) };
}

test('uploads the zip under its SHA-256 and prints the CloudFormation parameters', () => {
  const r = run(['--bucket', 'my-artifacts', '--arch', 'arm64']);
  assert.equal(r.status, 0, r.stderr);
  const key = `imgflow/function-arm64-${r.sha}.zip`;
  assert.equal(r.stdout, `CodeBucket=my-artifacts CodeKey=${key} Architecture=arm64\n`);
  assert.deepEqual(r.calls, [
    `s3api head-object --bucket my-artifacts --key ${key}`,
    `s3 cp --only-show-errors ${r.zip} s3://my-artifacts/${key}`,
  ]);
});

test('does not upload a build that is already there; --cdk prints cdk deploy flags', () => {
  const r = run(['--bucket', 'b', '--prefix', 'builds', '--cdk'], { EXISTING: '1' });
  assert.equal(r.status, 0, r.stderr);
  const key = `builds/function-x86_64-${r.sha}.zip`;
  assert.equal(
    r.stdout,
    `--parameters CodeBucket=b --parameters CodeKey=${key} --parameters Architecture=x86_64\n`,
  );
  assert.deepEqual(r.calls, [`s3api head-object --bucket b --key ${key}`]);
});

test('refuses a missing bucket or an unknown architecture', () => {
  assert.equal(run([]).status, 2);
  assert.equal(run(['--bucket', 'b', '--arch', 'riscv64']).status, 2);
});
