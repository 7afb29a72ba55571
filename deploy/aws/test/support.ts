// Shared by the tests: the stack synthesized once per test file, and what a template says.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, BuildOptions } from '../lib/app';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'imgflow-cdk-'));
}

// The template as `cdk synth` writes it, and the stack it came from. cdk-nag is off here (its
// own test runs it) so that a finding fails that test, not every test in the file.
export function synth(options: BuildOptions = {}) {
  const { app, stack } = buildApp({ outdir: tempDir(), nag: false, ...options });
  const template = Template.fromStack(stack);
  return { app, stack, template, json: template.toJSON() as CfnTemplate };
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, any>;
  Condition?: string;
  DependsOn?: string[];
}
export interface CfnTemplate {
  Parameters: Record<string, Record<string, any>>;
  Conditions: Record<string, unknown>;
  Resources: Record<string, CfnResource>;
  Outputs: Record<string, Record<string, any>>;
  Rules?: Record<string, any>;
}

export function resourcesOfType(t: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

// The one resource of a type whose logical id starts with `prefix` (CDK appends a hash).
export function theResource(t: CfnTemplate, type: string, prefix: string): [string, CfnResource] {
  const found = resourcesOfType(t, type).filter(([id]) => id.startsWith(prefix));
  if (found.length !== 1) {
    throw new Error(`expected one ${type} named ${prefix}*, found ${found.map(([id]) => id)}`);
  }
  return found[0];
}

export const asArray = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

// Every statement of every policy in the template: identity policies (roles, policies) and
// resource policies (buckets, queues, topics), with where it came from.
export interface Located {
  where: string;
  statement: Record<string, any>;
}
export function allStatements(t: CfnTemplate): Located[] {
  const out: Located[] = [];
  for (const [id, r] of Object.entries(t.Resources)) {
    const p = r.Properties ?? {};
    const docs: [string, any][] = [];
    if (r.Type === 'AWS::IAM::Role') {
      docs.push([`${id}.AssumeRolePolicyDocument`, p.AssumeRolePolicyDocument]);
      for (const pol of p.Policies ?? []) docs.push([`${id}.Policies.${pol.PolicyName}`, pol.PolicyDocument]);
    } else if ('PolicyDocument' in p) {
      docs.push([id, p.PolicyDocument]);
    }
    for (const [where, doc] of docs) {
      for (const s of asArray(doc.Statement)) {
        const [condition, statement] = unlessConditional(s);
        out.push({ where: condition ? `${where} (if ${condition})` : where, statement });
      }
    }
  }
  return out;
}

// A statement granted only under a condition is written {"Fn::If": [condition, statement,
// {"Ref": "AWS::NoValue"}]}: its condition and the statement, or [undefined, s] for a plain one.
export function unlessConditional(s: any): [string | undefined, Record<string, any>] {
  const branches = s['Fn::If'];
  if (!branches) return [undefined, s];
  if (JSON.stringify(branches[2]) !== JSON.stringify({ Ref: 'AWS::NoValue' })) {
    throw new Error(`a conditional statement must grant nothing otherwise: ${JSON.stringify(s)}`);
  }
  return [branches[0], branches[1]];
}
