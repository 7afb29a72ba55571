// What the stack must be: least privilege, private buckets, the events wired, failures kept,
// alarms and a dashboard, and the function as `imgflow lambda` expects it.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { Env, PRESIGN_MODE } from '../lib/imgflow-stack';
import { allStatements, asArray, resourcesOfType, synth, theResource, unlessConditional } from './support';

const { template, json } = synth();

const [functionId, fn] = theResource(json, 'AWS::Lambda::Function', 'Function');
const [uploadFunctionId, uploadFn] = theResource(json, 'AWS::Lambda::Function', 'UploadFunction');
const [functionRoleId, functionRole] = theResource(json, 'AWS::IAM::Role', 'FunctionRole');
const [uploadRoleId, uploadRole] = theResource(json, 'AWS::IAM::Role', 'UploadRole');
const [sourceId, source] = theResource(json, 'AWS::S3::Bucket', 'SourceBucket');
const [destinationId] = theResource(json, 'AWS::S3::Bucket', 'DestinationBucket');
const [dlqId] = theResource(json, 'AWS::SQS::Queue', 'DeadLetterQueue');
const [functionLogsId] = theResource(json, 'AWS::Logs::LogGroup', 'FunctionLogs');
const [uploadLogsId] = theResource(json, 'AWS::Logs::LogGroup', 'UploadLogs');
const [notificationTopicId, notificationTopic] = theResource(json, 'AWS::SNS::Topic', 'NotificationTopic');

const ref = (id: string) => ({ Ref: id });
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
// The source bucket's name is an expression (see the stack); every ARN of it must use the same.
const sourceName = source.Properties!.BucketName;
const sourceBucketArn = { 'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':s3:::', sourceName]] };
const sourceObjects = {
  'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':s3:::', sourceName, '/', ref('SourcePrefix'), '*']],
};
const destinationObjects = {
  'Fn::Join': ['', [arnOf(destinationId), '/', ref('DestinationPrefix'), '*']],
};

// Both functions log JSON to their own group, their own lines filtered at LogLevel.
const jsonLogsTo = (group: string) => ({
  LogFormat: 'JSON',
  ApplicationLogLevel: ref('LogLevel'),
  SystemLogLevel: 'INFO',
  LogGroup: ref(group),
});

// The role's statements granted under `condition` (undefined: always), with each action list
// sorted, in the order written.
function statementsOf(role: { Properties?: Record<string, any> }, condition?: string) {
  const policies = role.Properties!.Policies as { PolicyDocument: { Statement: any[] } }[];
  assert.equal(policies.length, 1, 'one inline policy');
  return policies[0].PolicyDocument.Statement.map(unlessConditional)
    .filter(([c]) => c === condition)
    .map(([, s]) => ({
      Sid: s.Sid,
      Effect: s.Effect,
      Action: asArray(s.Action).slice().sort(),
      Resource: s.Resource,
      ...(s.Condition ? { Condition: s.Condition } : {}),
    }));
}

describe('least privilege', () => {
  test('the function role may do exactly this, and nothing else', () => {
    assert.deepEqual(statementsOf(functionRole), [
      { Sid: 'ReadSources', Effect: 'Allow', Action: ['s3:GetObject'], Resource: sourceObjects },
      {
        Sid: 'TellMissingKeys',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [arnOf(destinationId), sourceBucketArn],
      },
      {
        Sid: 'WriteRenditions',
        Effect: 'Allow',
        Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
        Resource: destinationObjects,
      },
      {
        Sid: 'Logs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: arnOf(functionLogsId),
      },
      { Sid: 'DeadLetter', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: arnOf(dlqId) },
    ]);
    assert.equal(functionRole.Properties!.ManagedPolicyArns, undefined, 'no managed policies');
  });

  test('with ClamdAddress the function may also quarantine, delete infected sources, join subnets', () => {
    const quarantineName = { 'Fn::Join': ['-', ['imgflow-quarantine', sourceName['Fn::Join'][1][1]]] };
    const quarantineObjects = {
      'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':s3:::', quarantineName, '/*']],
    };
    const accountEc2 = {
      'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':ec2:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':*']],
    };
    assert.deepEqual(statementsOf(functionRole, 'WithScanning'), [
      { Sid: 'QuarantineInfected', Effect: 'Allow', Action: ['s3:PutObject'], Resource: quarantineObjects },
      { Sid: 'DeleteInfectedSources', Effect: 'Allow', Action: ['s3:DeleteObject'], Resource: sourceObjects },
      {
        Sid: 'JoinScanSubnets',
        Effect: 'Allow',
        Action: [
          'ec2:AssignPrivateIpAddresses',
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: accountEc2,
      },
      {
        Sid: 'DescribeScanSubnets',
        Effect: 'Allow',
        Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
        Resource: '*',
      },
    ]);
    // Nothing else is conditional: every other grant is the same with or without scanning (or
    // notifications, below).
    const conditions = new Set(
      functionRole.Properties!.Policies[0].PolicyDocument.Statement.map((s: any) => unlessConditional(s)[0]),
    );
    assert.deepEqual([...conditions], [undefined, 'WithScanning', 'WithNotifications']);
  });

  test('with Notifications the function may also publish to the notification topic, and only to it', () => {
    assert.deepEqual(statementsOf(functionRole, 'WithNotifications'), [
      { Sid: 'PublishNotifications', Effect: 'Allow', Action: ['sns:Publish'], Resource: ref(notificationTopicId) },
    ]);
  });

  test('the upload endpoint role may only put objects under the source prefix, and log', () => {
    const conditions = uploadRole.Properties!.Policies[0].PolicyDocument.Statement.map(
      (s: any) => unlessConditional(s)[0],
    );
    assert.deepEqual([...new Set(conditions)], [undefined], 'nothing granted under a condition');
    assert.deepEqual(statementsOf(uploadRole), [
      { Sid: 'SignUploads', Effect: 'Allow', Action: ['s3:PutObject'], Resource: sourceObjects },
      {
        Sid: 'Logs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: arnOf(uploadLogsId),
      },
    ]);
    assert.equal(uploadRole.Properties!.ManagedPolicyArns, undefined, 'no managed policies');
  });

  test('roles are for Lambda alone, and no other identity policy exists', () => {
    for (const [, role] of resourcesOfType(json, 'AWS::IAM::Role')) {
      assert.deepEqual(role.Properties!.AssumeRolePolicyDocument.Statement, [
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
    assert.deepEqual(
      resourcesOfType(json, 'AWS::IAM::Role').map(([id]) => id).sort(),
      [functionRoleId, uploadRoleId].sort(),
    );
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::User', 'AWS::IAM::Group']) {
      assert.deepEqual(resourcesOfType(json, type), [], `no ${type}`);
    }
  });

  test('no Allow statement anywhere has a wildcard action', () => {
    for (const { where, statement } of allStatements(json)) {
      if (statement.Effect !== 'Allow') continue;
      assert.equal(statement.NotAction, undefined, `${where}: NotAction`);
      for (const action of asArray(statement.Action)) {
        assert.ok(!String(action).includes('*'), `${where}: wildcard action ${action}`);
      }
    }
  });

  test('no role resource is wider than a bucket plus its prefix, or the own log group', () => {
    const allowed = [sourceObjects, destinationObjects, arnOf(functionLogsId), arnOf(uploadLogsId), arnOf(dlqId)];
    // The buckets themselves only for listing names (S3 then answers a missing key with 404).
    const buckets = [sourceBucketArn, arnOf(destinationId)];
    for (const [id, role] of [[functionRoleId, functionRole], [uploadRoleId, uploadRole]] as const) {
      for (const [condition, s] of role.Properties!.Policies[0].PolicyDocument.Statement.map(unlessConditional)) {
        if (condition === 'WithScanning') continue; // exactly as the test above says
        assert.equal(s.NotResource, undefined, `${id}: NotResource`);
        const listing = JSON.stringify(asArray(s.Action)) === JSON.stringify(['s3:ListBucket']);
        // With Notifications, the one topic and nothing else.
        const expected = condition === 'WithNotifications' ? [ref(notificationTopicId)] : listing ? buckets : allowed;
        for (const resource of asArray(s.Resource)) {
          assert.ok(
            expected.some((a) => JSON.stringify(a) === JSON.stringify(resource)),
            `${id}: resource ${JSON.stringify(resource)} is not one of the allowed ones`,
          );
        }
      }
    }
  });

  test('prefixes cannot widen the grants: no IAM wildcard characters, folders end with /', () => {
    for (const name of ['SourcePrefix', 'DestinationPrefix']) {
      const pattern = new RegExp(json.Parameters[name].AllowedPattern);
      for (const ok of ['', 'uploads/', 'a/b-c_d.e/']) assert.ok(pattern.test(ok), `${name} accepts "${ok}"`);
      for (const bad of ['*', 'uploads/*', 'up?/', 'uploads', 'a//']) {
        assert.ok(!pattern.test(bad), `${name} refuses "${bad}"`);
      }
    }
    assert.equal(json.Parameters.SourcePrefix.Default, 'uploads/');
  });

  test('no resource policy grants anything to everyone, except the opt-in public upload URL', () => {
    for (const { where, statement } of allStatements(json)) {
      if (statement.Effect !== 'Allow') continue;
      const principal = JSON.stringify(statement.Principal ?? {});
      assert.ok(!principal.includes('"*"'), `${where}: Allow to everyone`);
    }
    const publicPermissions = resourcesOfType(json, 'AWS::Lambda::Permission').filter(
      ([, p]) => p.Properties!.Principal === '*',
    );
    assert.equal(publicPermissions.length, 2);
    for (const [id, p] of publicPermissions) {
      assert.equal(p.Condition, 'WithPublicUploadEndpoint', `${id} only with UploadAuthType NONE`);
      assert.deepEqual(p.Properties!.FunctionName, arnOf(uploadFunctionId));
    }
  });
});

// The statements of a bucket's policy, each with the condition it is granted under.
function bucketPolicyStatements(bucketId: string) {
  const policies = resourcesOfType(json, 'AWS::S3::BucketPolicy').filter(
    ([, p]) => JSON.stringify(p.Properties!.Bucket) === JSON.stringify(ref(bucketId)),
  );
  assert.equal(policies.length, 1, bucketId);
  return asArray(policies[0][1].Properties!.PolicyDocument.Statement).map(unlessConditional);
}

describe('buckets', () => {
  const buckets = resourcesOfType(json, 'AWS::S3::Bucket');

  test('four buckets: source, destination, access logs, and the quarantine with scanning only', () => {
    assert.equal(buckets.length, 4);
    const [quarantineId, quarantine] = theResource(json, 'AWS::S3::Bucket', 'QuarantineBucket');
    assert.equal(quarantine.Condition, 'WithScanning');
    for (const [id, r] of Object.entries(json.Resources)) {
      if (id.startsWith('Quarantine')) assert.equal(r.Condition, 'WithScanning', id);
    }
    assert.equal(json.Outputs.QuarantineBucketName.Condition, 'WithScanning');
    assert.deepEqual(quarantine.Properties!.BucketName, {
      'Fn::Join': ['-', ['imgflow-quarantine', sourceName['Fn::Join'][1][1]]],
    });
    assert.deepEqual(quarantine.Properties!.LoggingConfiguration.LogFilePrefix, 'quarantine/');
    assert.ok(quarantineId);
  });

  test('every bucket blocks public access, is encrypted, has no ACLs and is kept on delete', () => {
    for (const [id, bucket] of buckets) {
      const p = bucket.Properties!;
      assert.deepEqual(
        p.PublicAccessBlockConfiguration,
        { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        id,
      );
      assert.deepEqual(
        p.BucketEncryption,
        { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        id,
      );
      assert.deepEqual(p.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] }, id);
      assert.equal((bucket as any).DeletionPolicy, 'Retain', id);
      assert.equal(p.WebsiteConfiguration, undefined, id);
    }
  });

  test('every bucket refuses requests without TLS', () => {
    for (const [id] of buckets) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: ref(id),
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Resource: [arnOf(id), { 'Fn::Join': ['', [arnOf(id), '/*']] }],
            },
          ]),
        },
      });
    }
  });

  test('the source and destination policies let nobody in: reading takes IAM permissions', () => {
    for (const id of [sourceId, destinationId]) {
      const statements = bucketPolicyStatements(id).filter(([condition]) => condition === undefined);
      assert.deepEqual(statements.map(([, s]) => s.Effect), ['Deny'], `${id}: only the TLS deny`);
    }
    // With Cdn=true, the distribution alone may read the outputs (below); nothing else is
    // conditional.
    assert.deepEqual(
      bucketPolicyStatements(sourceId).map(([condition]) => condition),
      [undefined],
    );
  });

  test('source and destination log their requests to the access-log bucket', () => {
    const [logBucketId] = theResource(json, 'AWS::S3::Bucket', 'AccessLogBucket');
    for (const [id, prefix] of [[sourceId, 'source/'], [destinationId, 'destination/']]) {
      assert.deepEqual(json.Resources[id].Properties!.LoggingConfiguration, {
        DestinationBucketName: ref(logBucketId),
        LogFilePrefix: prefix,
      });
    }
    // The log bucket lets S3's log delivery write each prefix, for that bucket and account only.
    for (const [id, prefix] of [[sourceId, 'source/'], [destinationId, 'destination/']]) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: ref(logBucketId),
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: 's3:PutObject',
              Effect: 'Allow',
              Principal: { Service: 'logging.s3.amazonaws.com' },
              Resource: { 'Fn::Join': ['', [arnOf(logBucketId), `/${prefix}*`]] },
              Condition: {
                ArnLike: { 'aws:SourceArn': arnOf(id) },
                StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') },
              },
            },
          ]),
        },
      });
    }
  });

  test('the quarantine logs to the access-log bucket too, named by its ARN (it may not exist)', () => {
    const [logBucketId] = theResource(json, 'AWS::S3::Bucket', 'AccessLogBucket');
    const [, quarantine] = theResource(json, 'AWS::S3::Bucket', 'QuarantineBucket');
    assert.deepEqual(quarantine.Properties!.LoggingConfiguration, {
      DestinationBucketName: ref(logBucketId),
      LogFilePrefix: 'quarantine/',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(logBucketId),
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'QuarantineAccessLogs',
            Action: 's3:PutObject',
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Resource: { 'Fn::Join': ['', [arnOf(logBucketId), '/quarantine/*']] },
            Condition: {
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':s3:::', quarantine.Properties!.BucketName]],
                },
              },
              StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') },
            },
          },
        ]),
      },
    });
  });

  test('destination versioning follows its parameter, off by default', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: { 'Fn::If': ['DestinationIsVersioned', 'Enabled', 'Suspended'] } },
    });
    assert.equal(json.Parameters.DestinationVersioning.Default, 'false');
  });
});

describe('events', () => {
  test('the source bucket sends ObjectCreated and ObjectRemoved, filtered by prefix and suffix', () => {
    const filter = {
      'Fn::If': [
        'HasKeyFilter',
        {
          S3Key: {
            Rules: [
              { 'Fn::If': ['HasSourcePrefix', { Name: 'prefix', Value: ref('SourcePrefix') }, ref('AWS::NoValue')] },
              { 'Fn::If': ['HasSourceSuffix', { Name: 'suffix', Value: ref('SourceSuffix') }, ref('AWS::NoValue')] },
            ],
          },
        },
        ref('AWS::NoValue'),
      ],
    };
    assert.deepEqual(source.Properties!.NotificationConfiguration, {
      LambdaConfigurations: [
        { Event: 's3:ObjectCreated:*', Filter: filter, Function: arnOf(functionId) },
        { Event: 's3:ObjectRemoved:*', Filter: filter, Function: arnOf(functionId) },
      ],
    });
    assert.deepEqual(resourcesOfType(json, 'Custom::S3BucketNotifications'), [], 'no custom resource');
  });

  test('S3 may invoke the function for this bucket and account only, before the bucket exists', () => {
    const [permissionId] = theResource(json, 'AWS::Lambda::Permission', 'SourceBucketInvokesFunction');
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(functionId),
      Principal: 's3.amazonaws.com',
      SourceAccount: ref('AWS::AccountId'),
      SourceArn: sourceBucketArn,
    });
    assert.ok(source.DependsOn?.includes(permissionId));
  });

  test('failed events go to the encrypted, TLS-only dead-letter queue after the retries', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(functionId),
      Qualifier: '$LATEST',
      MaximumRetryAttempts: ref('MaxRetryAttempts'),
      MaximumEventAgeInSeconds: ref('MaxEventAgeSeconds'),
      DestinationConfig: { OnFailure: { Destination: arnOf(dlqId) } },
    });
    assert.equal(json.Parameters.MaxRetryAttempts.Default, 2);
    assert.equal(json.Parameters.MaxEventAgeSeconds.Default, 21600);
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(dlqId)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('the function', () => {
  test('is the provided.al2023 custom runtime from the code parameters, with loops stopped', () => {
    const p = fn.Properties!;
    assert.equal(p.Runtime, 'provided.al2023');
    assert.equal(p.Handler, 'bootstrap');
    assert.equal(p.RecursiveLoop, 'Terminate');
    assert.deepEqual(p.Code, { S3Bucket: ref('CodeBucket'), S3Key: ref('CodeKey') });
    assert.deepEqual(p.Architectures, [ref('Architecture')]);
    assert.deepEqual(json.Parameters.Architecture.AllowedValues, ['x86_64', 'arm64']);
    assert.deepEqual(p.MemorySize, ref('MemorySize'));
    assert.deepEqual(p.Timeout, ref('TimeoutSeconds'));
    assert.deepEqual(p.ReservedConcurrentExecutions, {
      'Fn::If': ['HasReservedConcurrency', ref('ReservedConcurrency'), ref('AWS::NoValue')],
    });
    assert.deepEqual(p.LoggingConfig, jsonLogsTo(functionLogsId));
    assert.equal(json.Parameters.CodeBucket.Default, undefined, 'the code location is required');
    assert.equal(json.Parameters.CodeKey.Default, undefined, 'the code location is required');
  });

  test('gets the destination, and a recipe or prefix only when one is given', () => {
    assert.deepEqual(fn.Properties!.Environment.Variables, {
      [Env.SOURCE_BUCKET]: sourceName,
      [Env.DESTINATION_BUCKET]: ref(destinationId),
      [Env.DESTINATION_PREFIX]: { 'Fn::If': ['HasDestinationPrefix', ref('DestinationPrefix'), ref('AWS::NoValue')] },
      [Env.CONFIG]: { 'Fn::If': ['HasRecipe', ref('RecipeFile'), ref('AWS::NoValue')] },
      [Env.CLAMD]: { 'Fn::If': ['WithScanning', ref('ClamdAddress'), ref('AWS::NoValue')] },
      [Env.QUARANTINE_BUCKET]: {
        'Fn::If': ['WithScanning', { 'Fn::Join': ['-', ['imgflow-quarantine', sourceName['Fn::Join'][1][1]]] }, ref('AWS::NoValue')],
      },
      [Env.NOTIFY_TOPIC_ARN]: { 'Fn::If': ['WithNotifications', ref(notificationTopicId), ref('AWS::NoValue')] },
    });
    assert.equal(json.Parameters.RecipeFile.Default, '', 'the built-in recipe by default');
  });

  test('scans only with ClamdAddress, from the subnets and security groups given with it', () => {
    assert.equal(json.Parameters.ClamdAddress.Default, '');
    assert.deepEqual(json.Conditions.WithScanning, { 'Fn::Not': [{ 'Fn::Equals': [ref('ClamdAddress'), ''] }] });
    assert.deepEqual(fn.Properties!.VpcConfig, {
      'Fn::If': [
        'WithScanning',
        { SubnetIds: ref('ScanSubnetIds'), SecurityGroupIds: ref('ScanSecurityGroupIds') },
        ref('AWS::NoValue'),
      ],
    });
    const pattern = new RegExp(json.Parameters.ClamdAddress.AllowedPattern);
    for (const ok of ['', 'tcp://10.0.1.5:3310', 'tcp://clamd.internal:3310', 'tcp://[fd00::5]:3310']) {
      assert.ok(pattern.test(ok), ok);
    }
    for (const bad of ['10.0.1.5:3310', 'unix:/run/clamd.ctl', 'tcp://host', 'tcp://a b:1']) {
      assert.ok(!pattern.test(bad), bad);
    }
    // The placeholders stand for "none"; with ClamdAddress the rule refuses them.
    const rule = json.Rules!.ScanningNeedsANetwork;
    assert.deepEqual(rule.RuleCondition, { 'Fn::Not': [{ 'Fn::Equals': [ref('ClamdAddress'), ''] }] });
    assert.deepEqual(
      rule.Assertions.map((a: any) => a.Assert),
      [
        { 'Fn::Not': [{ 'Fn::EachMemberEquals': [ref('ScanSubnetIds'), json.Parameters.ScanSubnetIds.Default] }] },
        {
          'Fn::Not': [
            { 'Fn::EachMemberEquals': [ref('ScanSecurityGroupIds'), json.Parameters.ScanSecurityGroupIds.Default] },
          ],
        },
      ],
    );
  });

  test('logs to its own log group, kept for LogRetentionDays (30 by default)', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: ref('LogRetentionDays') },
      DeletionPolicy: 'Retain',
    });
    assert.equal(json.Parameters.LogRetentionDays.Default, 30);
    assert.equal(json.Parameters.LogLevel.Default, 'INFO');
  });
});

describe('the upload endpoint', () => {
  test('is off by default, and every part of it follows the switch', () => {
    assert.equal(json.Parameters.UploadEndpoint.Default, 'false');
    const parts = Object.entries(json.Resources).filter(([id]) => id.startsWith('Upload'));
    assert.equal(parts.length, 6);
    for (const [id, r] of parts) {
      assert.ok(['WithUploadEndpoint', 'WithPublicUploadEndpoint'].includes(r.Condition!), `${id} is conditional`);
    }
    for (const [name, o] of Object.entries(json.Outputs)) {
      if (name.startsWith('Upload')) assert.equal(o.Condition, 'WithUploadEndpoint', name);
    }
  });

  test('is the same code in presign mode, behind a function URL whose auth type is a parameter', () => {
    const p = uploadFn.Properties!;
    assert.equal(p.Runtime, 'provided.al2023');
    assert.equal(p.Handler, 'bootstrap');
    assert.equal(p.RecursiveLoop, 'Terminate');
    assert.deepEqual(p.Code, fn.Properties!.Code);
    assert.deepEqual(p.LoggingConfig, jsonLogsTo(uploadLogsId));
    assert.deepEqual(p.Environment.Variables, {
      [Env.MODE]: PRESIGN_MODE,
      [Env.SOURCE_BUCKET]: sourceName,
      [Env.SOURCE_PREFIX]: ref('SourcePrefix'),
      [Env.CONFIG]: { 'Fn::If': ['HasRecipe', ref('RecipeFile'), ref('AWS::NoValue')] },
    });
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: ref('UploadAuthType'),
      TargetFunctionArn: arnOf(uploadFunctionId),
    });
    assert.equal(json.Parameters.UploadAuthType.Default, 'AWS_IAM');
    assert.deepEqual(json.Parameters.UploadAuthType.AllowedValues, ['AWS_IAM', 'NONE']);
  });

  test('a public endpoint must have a concurrency cap', () => {
    const rule = json.Rules!.PublicUploadEndpointNeedsACap;
    assert.deepEqual(rule.RuleCondition, {
      'Fn::And': [
        { 'Fn::Equals': [ref('UploadEndpoint'), 'true'] },
        { 'Fn::Equals': [ref('UploadAuthType'), 'NONE'] },
      ],
    });
    assert.deepEqual(rule.Assertions[0].Assert, {
      'Fn::Not': [{ 'Fn::Equals': [ref('UploadReservedConcurrency'), '0'] }],
    });
    assert.deepEqual(uploadFn.Properties!.ReservedConcurrentExecutions, {
      'Fn::If': ['UploadHasReservedConcurrency', ref('UploadReservedConcurrency'), ref('AWS::NoValue')],
    });
  });
});

describe('the CDN', () => {
  const [distributionId, distribution] = theResource(json, 'AWS::CloudFront::Distribution', 'CloudFrontDistribution');
  const [oacId] = theResource(json, 'AWS::CloudFront::OriginAccessControl', 'CloudFrontOriginAccess');
  const [cachePolicyId, cachePolicy] = theResource(json, 'AWS::CloudFront::CachePolicy', 'CloudFrontCachePolicy');
  const config = distribution.Properties!.DistributionConfig;

  test('is off by default, and every part of it follows the switch', () => {
    assert.equal(json.Parameters.Cdn.Default, 'false');
    assert.deepEqual(json.Conditions.WithCdn, { 'Fn::Equals': [ref('Cdn'), 'true'] });
    for (const [id, r] of Object.entries(json.Resources)) {
      if (id.startsWith('CloudFront')) assert.equal(r.Condition, 'WithCdn', id);
    }
    for (const name of ['CdnDomainName', 'CdnDistributionId']) {
      assert.equal(json.Outputs[name].Condition, 'WithCdn', name);
    }
  });

  test('reads the private destination bucket through Origin Access Control, signed', () => {
    assert.deepEqual(config.Origins, [
      {
        Id: 'destination',
        DomainName: { 'Fn::GetAtt': [destinationId, 'RegionalDomainName'] },
        OriginAccessControlId: { 'Fn::GetAtt': [oacId, 'Id'] },
        S3OriginConfig: { OriginAccessIdentity: '' },
      },
    ]);
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({
        OriginAccessControlOriginType: 's3',
        SigningBehavior: 'always',
        SigningProtocol: 'sigv4',
      }),
    });
    // The bucket policy lets exactly this distribution read the outputs, and only with Cdn=true.
    const cdnStatements = bucketPolicyStatements(destinationId).filter(([c]) => c === 'WithCdn');
    assert.deepEqual(
      cdnStatements.map(([, s]) => s),
      [
        {
          Sid: 'CdnReadsOutputs',
          Effect: 'Allow',
          Principal: { Service: 'cloudfront.amazonaws.com' },
          Action: 's3:GetObject',
          Resource: destinationObjects,
          Condition: {
            StringEquals: {
              'AWS:SourceArn': {
                'Fn::Join': [
                  '',
                  ['arn:', ref('AWS::Partition'), ':cloudfront::', ref('AWS::AccountId'), ':distribution/', ref(distributionId)],
                ],
              },
            },
          },
        },
      ],
    );
  });

  test('serves GET and HEAD over HTTPS, HTTP/2 and 3, compressed, cached as the objects say', () => {
    assert.equal(config.Enabled, true);
    assert.equal(config.HttpVersion, 'http2and3');
    const behavior = config.DefaultCacheBehavior;
    assert.equal(behavior.ViewerProtocolPolicy, 'redirect-to-https');
    assert.deepEqual(behavior.AllowedMethods, ['GET', 'HEAD']);
    assert.equal(behavior.Compress, true);
    assert.deepEqual(behavior.CachePolicyId, { 'Fn::GetAtt': [cachePolicyId, 'Id'] });
    const c = cachePolicy.Properties!.CachePolicyConfig;
    // Min TTL 0: a "no-cache" object is revalidated every time; max a year for immutable ones.
    assert.equal(c.MinTTL, 0);
    assert.equal(c.MaxTTL, 31_536_000);
    const key = c.ParametersInCacheKeyAndForwardedToOrigin;
    assert.equal(key.EnableAcceptEncodingGzip, true);
    assert.equal(key.EnableAcceptEncodingBrotli, true);
    assert.deepEqual(key.QueryStringsConfig, { QueryStringBehavior: 'none' });
    assert.deepEqual(key.HeadersConfig, { HeaderBehavior: 'none' });
    assert.deepEqual(key.CookiesConfig, { CookieBehavior: 'none' });
  });
});

describe('notifications', () => {
  test('are off by default, and every part of them follows the switch', () => {
    assert.equal(json.Parameters.Notifications.Default, 'false');
    assert.deepEqual(json.Parameters.Notifications.AllowedValues, ['true', 'false']);
    assert.deepEqual(json.Conditions.WithNotifications, { 'Fn::Equals': [ref('Notifications'), 'true'] });
    const parts = Object.entries(json.Resources).filter(([id]) => id.startsWith('NotificationTopic'));
    assert.deepEqual(parts.map(([, r]) => r.Type).sort(), [
      'AWS::SNS::Subscription',
      'AWS::SNS::Topic',
      'AWS::SNS::TopicPolicy',
    ]);
    for (const [id, r] of parts) {
      const expected = r.Type === 'AWS::SNS::Subscription' ? 'WithNotificationEmail' : 'WithNotifications';
      assert.equal(r.Condition, expected, id);
    }
    assert.deepEqual(json.Outputs.NotificationTopicArn, {
      Description: json.Outputs.NotificationTopicArn.Description,
      Value: ref(notificationTopicId),
      Condition: 'WithNotifications',
    });
  });

  test('the topic is named from the stack id, like the quarantine bucket, and encrypted', () => {
    const p = notificationTopic.Properties!;
    assert.deepEqual(p.TopicName, { 'Fn::Join': ['-', ['imgflow-notifications', sourceName['Fn::Join'][1][1]]] });
    // SSE with the AWS managed key: the publishing role needs no KMS grant (its key policy lets
    // the account's principals use it through SNS), and SNS decrypts before delivering.
    assert.equal(p.KmsMasterKeyId, 'alias/aws/sns');
    assert.equal(notificationTopic.Condition, 'WithNotifications');
  });

  test('the topic policy only refuses publishing without TLS: it lets nobody in', () => {
    const policies = resourcesOfType(json, 'AWS::SNS::TopicPolicy').filter(([, p]) =>
      JSON.stringify(p.Properties!.Topics).includes(JSON.stringify(ref(notificationTopicId))),
    );
    assert.equal(policies.length, 1);
    const [policyId, policy] = policies[0];
    assert.equal(policy.Condition, 'WithNotifications', policyId);
    assert.deepEqual(policy.Properties!.Topics, [ref(notificationTopicId)]);
    const statements = asArray(policy.Properties!.PolicyDocument.Statement).map((s: any) => {
      const { Sid, ...rest } = s;
      assert.ok(Sid);
      return rest;
    });
    assert.deepEqual(statements, [
      {
        Action: 'sns:Publish',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: '*',
        Resource: ref(notificationTopicId),
      },
    ]);
  });

  test('the function gets the topic ARN only with Notifications', () => {
    assert.equal(Env.NOTIFY_TOPIC_ARN, 'IMGFLOW_NOTIFY_TOPIC_ARN'); // the C++ side reads this name
    assert.deepEqual(fn.Properties!.Environment.Variables[Env.NOTIFY_TOPIC_ARN], {
      'Fn::If': ['WithNotifications', ref(notificationTopicId), ref('AWS::NoValue')],
    });
    assert.equal(uploadFn.Properties!.Environment.Variables[Env.NOTIFY_TOPIC_ARN], undefined);
  });

  test('no principal but the event function may publish to it', () => {
    // Every Allow of sns:Publish anywhere: the function's (only with Notifications, on this
    // topic) and CloudWatch's on the alarm topic; no statement allows anything else on this one.
    const [alarmTopicId] = theResource(json, 'AWS::SNS::Topic', 'AlarmTopic');
    const publishers = allStatements(json)
      .filter(({ statement }) => statement.Effect === 'Allow')
      .filter(({ statement }) => asArray(statement.Action).some((a) => /^sns:(publish|\*)$/i.test(String(a))))
      .map(({ where, statement }) => ({ where, principal: statement.Principal, resource: statement.Resource }));
    assert.deepEqual(
      publishers.sort((a, b) => a.where.localeCompare(b.where)),
      [
        {
          where: `${theResource(json, 'AWS::SNS::TopicPolicy', 'AlarmTopicPolicy')[0]}`,
          principal: { Service: 'cloudwatch.amazonaws.com' },
          resource: ref(alarmTopicId),
        },
        {
          where: `${functionRoleId}.Policies.imgflow (if WithNotifications)`,
          principal: undefined,
          resource: ref(notificationTopicId),
        },
      ].sort((a, b) => a.where.localeCompare(b.where)),
    );
    for (const { where, statement } of allStatements(json)) {
      if (statement.Effect !== 'Allow') continue;
      if (!JSON.stringify(statement.Resource ?? '').includes(JSON.stringify(ref(notificationTopicId)))) continue;
      assert.equal(where, `${functionRoleId}.Policies.imgflow (if WithNotifications)`, `${where} names the topic`);
    }
  });

  test('an e-mail address is subscribed only when given and notifications are on', () => {
    assert.equal(json.Parameters.NotificationEmail.Default, '');
    assert.deepEqual(json.Conditions.WithNotificationEmail, {
      'Fn::And': [{ Condition: 'WithNotifications' }, { 'Fn::Not': [{ 'Fn::Equals': [ref('NotificationEmail'), ''] }] }],
    });
    const [id, subscription] = theResource(json, 'AWS::SNS::Subscription', 'NotificationTopicEmail');
    assert.equal(subscription.Condition, 'WithNotificationEmail', id);
    assert.deepEqual(subscription.Properties, {
      Protocol: 'email',
      Endpoint: ref('NotificationEmail'),
      TopicArn: ref(notificationTopicId),
    });
    const pattern = new RegExp(json.Parameters.NotificationEmail.AllowedPattern);
    for (const ok of ['', 'ops@example.com']) assert.ok(pattern.test(ok), ok);
    for (const bad of ['ops', 'ops@', 'a b@example.com']) assert.ok(!pattern.test(bad), bad);
  });
});

describe('monitoring', () => {
  const fnDimension = [{ Name: 'FunctionName', Value: ref(functionId) }];

  test('alarms: errors, throttles, dead letters, p99 duration near the timeout', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    for (const metric of ['Errors', 'Throttles']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: fnDimension,
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 90,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression: { 'Fn::Join': ['', ['100 * p99 / (', ref('TimeoutSeconds'), ' * 1000)']] },
        }),
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'AWS/Lambda', MetricName: 'Duration', Dimensions: fnDimension },
            Stat: 'p99',
          }),
        }),
      ]),
    });
  });

  test('alarms notify the topic only when an e-mail address is given', () => {
    const [topicId, topic] = theResource(json, 'AWS::SNS::Topic', 'AlarmTopic');
    assert.equal(topic.Condition, 'HasAlarmEmail');
    for (const [id, alarm] of resourcesOfType(json, 'AWS::CloudWatch::Alarm')) {
      const actions = { 'Fn::If': ['HasAlarmEmail', [ref(topicId)], ref('AWS::NoValue')] };
      assert.deepEqual(alarm.Properties!.AlarmActions, actions, id);
    }
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: ref('AlarmEmail') });
    assert.equal(json.Parameters.AlarmEmail.Default, '');
  });

  test('the dashboard shows invocations, errors, duration p50 and p99, dead-letter depth', () => {
    const [, dashboard] = theResource(json, 'AWS::CloudWatch::Dashboard', 'Dashboard');
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    for (const expected of [
      '\\"Invocations\\",\\"FunctionName\\"',
      '\\"Errors\\",\\"FunctionName\\"',
      '{\\"stat\\":\\"p50\\"}',
      '{\\"stat\\":\\"p99\\"}',
      '\\"ApproximateNumberOfMessagesVisible\\",\\"QueueName\\"',
    ]) {
      assert.ok(body.includes(expected), `dashboard shows ${expected}`);
    }
  });
});
