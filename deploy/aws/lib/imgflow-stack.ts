// imgflow on AWS: S3 source bucket → ObjectCreated/ObjectRemoved → Lambda (`imgflow lambda`, a
// provided.al2023 custom runtime) → private S3 destination bucket with variants and manifest.json.
//
// Every setting an operator may want to change is a CloudFormation parameter, not CDK context, so
// the one synthesized template (deploy/aws/imgflow.template.json) serves both ways of deploying:
// `npx cdk deploy --parameters ...` and plain `aws cloudformation deploy --parameter-overrides ...`
// for users without Node.js. For the same reason the function's code is never a CDK asset: it is
// always read from an S3 bucket and key given as parameters (CodeBucket, CodeKey), where
// `deploy/aws/upload-code` puts build/lambda/function-<arch>.zip. Synthesis therefore needs no zip,
// no AWS credentials and no network, and the committed template needs no CDK bootstrap stack.
import {
  Aws,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  CfnResource,
  CfnRule,
  Duration,
  Fn,
  ICfnConditionExpression,
  ICfnRuleConditionExpression,
  IResolvable,
  Lazy,
  RemovalPolicy,
  Stack,
  StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { Construct, IConstruct } from 'constructs';

// The environment variables `imgflow lambda` reads. The C++ side must use exactly these names.
export const Env = {
  SOURCE_BUCKET: 'IMGFLOW_SOURCE_BUCKET', // events for any other bucket are ignored
  SOURCE_PREFIX: 'IMGFLOW_SOURCE_PREFIX', // upload endpoint: keys it hands out start with it
  DESTINATION_BUCKET: 'IMGFLOW_DESTINATION_BUCKET',
  DESTINATION_PREFIX: 'IMGFLOW_DESTINATION_PREFIX', // set only when not empty
  CONFIG: 'IMGFLOW_CONFIG', // set only when a recipe is bundled; else the built-in recipe
  MODE: 'IMGFLOW_MODE', // "presign" on the upload endpoint; unset on the event function
  CLAMD: 'IMGFLOW_CLAMD', // set only with ClamdAddress: scan every source with this clamd
  QUARANTINE_BUCKET: 'IMGFLOW_QUARANTINE_BUCKET', // set only with ClamdAddress
  NOTIFY_TOPIC_ARN: 'IMGFLOW_NOTIFY_TOPIC_ARN', // set only with Notifications: publish each outcome there
} as const;
export const PRESIGN_MODE = 'presign';

// Object keys, as IAM resources: no IAM wildcard characters, and each segment ends with "/", so a
// prefix "uploads/" never also covers "uploads-old/…". Empty means the whole bucket.
const PREFIX_PATTERN = "^([0-9A-Za-z!_.'()-]+/)*$";

// ScanSubnetIds and ScanSecurityGroupIds when scanning is off (see there).
const NO_SUBNET = 'subnet-00000000';
const NO_SECURITY_GROUP = 'sg-00000000';

// The values CloudWatch Logs accepts for RetentionInDays.
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
].map(String);

export class ImgflowStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, {
      description:
        'imgflow: S3 source bucket -> ObjectCreated -> Lambda (imgflow lambda, provided.al2023) -> ' +
        'private S3 destination bucket with variants and manifest.json',
      ...props,
    });

    // ---- Parameters -------------------------------------------------------------------------
    const param = (name: string, p: ConstructorParameters<typeof CfnParameter>[2]) =>
      new CfnParameter(this, name, p);

    const codeBucket = param('CodeBucket', {
      type: 'String',
      description:
        'S3 bucket (in this region) holding function.zip from scripts/package-lambda; ' +
        'deploy/aws/upload-code puts it there and prints this value',
      allowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
      constraintDescription: 'an S3 bucket name',
    });
    const codeKey = param('CodeKey', {
      type: 'String',
      description:
        'Key of function.zip in CodeBucket; a new key per build (upload-code names it by its ' +
        'SHA-256), so that a stack update replaces the code',
      minLength: 1,
    });
    const architecture = param('Architecture', {
      type: 'String',
      default: 'x86_64',
      allowedValues: ['x86_64', 'arm64'],
      description: 'Instruction set of the zip: scripts/package-lambda --arch x86_64|arm64',
    });
    const memorySize = param('MemorySize', {
      type: 'Number',
      default: 2048,
      minValue: 128,
      maxValue: 10240,
      description:
        'Function memory in MB; CPU grows with it (1769 MB = one vCPU). Keep it above the ' +
        "recipe's limits.max_memory",
    });
    const timeout = param('TimeoutSeconds', {
      type: 'Number',
      default: 60,
      minValue: 1,
      maxValue: 900,
      description: 'Function timeout in seconds; the duration alarm fires at 90% of it',
    });
    const reservedConcurrency = param('ReservedConcurrency', {
      type: 'Number',
      default: 0,
      minValue: 0,
      description:
        'Concurrent executions reserved for (and capping) the function; 0 = none, the ' +
        "account's unreserved pool",
    });
    const sourcePrefix = param('SourcePrefix', {
      type: 'String',
      default: 'uploads/',
      allowedPattern: PREFIX_PATTERN,
      constraintDescription: 'empty, or folders each ending with "/" (no * or ?)',
      description:
        'Only keys under it raise events, and the function may read only them; empty = the ' +
        'whole source bucket',
    });
    const sourceSuffix = param('SourceSuffix', {
      type: 'String',
      default: '',
      allowedPattern: '^[^*?]*$',
      description:
        'Only keys ending with it raise events (case-sensitive, e.g. .jpg); empty = any. The ' +
        'function decides formats by magic bytes, not names',
    });
    const destinationPrefix = param('DestinationPrefix', {
      type: 'String',
      default: '',
      allowedPattern: PREFIX_PATTERN,
      constraintDescription: 'empty, or folders each ending with "/" (no * or ?)',
      description:
        'Prepended to every output key; the function may write only under it. Empty = the ' +
        'whole destination bucket',
    });
    const destinationVersioning = param('DestinationVersioning', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        'Keep earlier versions of outputs in the destination bucket (noncurrent versions ' +
        'expire after NoncurrentVersionDays)',
    });
    const noncurrentVersionDays = param('NoncurrentVersionDays', {
      type: 'Number',
      default: 30,
      minValue: 1,
      description: 'With DestinationVersioning, days an overwritten or deleted output is kept',
    });
    const recipeFile = param('RecipeFile', {
      type: 'String',
      default: '',
      description:
        'Path of a recipe bundled in the zip (e.g. /var/task/imgflow.yaml), passed as ' +
        'IMGFLOW_CONFIG; empty = the built-in recipe',
    });
    const logRetention = param('LogRetentionDays', {
      type: 'Number',
      default: 30,
      allowedValues: LOG_RETENTION_DAYS,
      description: "Days the functions' CloudWatch logs are kept",
    });
    const logLevel = param('LogLevel', {
      type: 'String',
      default: 'INFO',
      allowedValues: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'],
      description:
        "Lowest level of the functions' own log lines that Lambda keeps (they are JSON with a " +
        'level key); START/END/REPORT are always kept',
    });
    const accessLogDays = param('AccessLogRetentionDays', {
      type: 'Number',
      default: 90,
      minValue: 1,
      description: 'Days the S3 server access logs of both buckets are kept',
    });
    const maxRetries = param('MaxRetryAttempts', {
      type: 'Number',
      default: 2,
      minValue: 0,
      maxValue: 2,
      description: 'Retries of a failed event before it goes to the dead-letter queue',
    });
    const maxEventAge = param('MaxEventAgeSeconds', {
      type: 'Number',
      default: 21600,
      minValue: 60,
      maxValue: 21600,
      description: 'An event still not processed after this long goes to the dead-letter queue',
    });
    const alarmEmail = param('AlarmEmail', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[^\\s@]+@[^\\s@]+$',
      constraintDescription: 'empty, or an e-mail address',
      description: 'E-mail address the alarms notify (SNS, confirm the subscription); empty = none',
    });
    const uploadEndpoint = param('UploadEndpoint', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        'Create the upload-URL endpoint: a function URL that hands out presigned PUT/POST ' +
        'URLs for new keys under SourcePrefix',
    });
    const uploadAuthType = param('UploadAuthType', {
      type: 'String',
      default: 'AWS_IAM',
      allowedValues: ['AWS_IAM', 'NONE'],
      description:
        'AWS_IAM: callers sign with credentials allowed lambda:InvokeFunctionUrl. NONE: anyone ' +
        'may ask for an upload URL; then UploadReservedConcurrency must cap it',
    });
    const uploadReservedConcurrency = param('UploadReservedConcurrency', {
      type: 'Number',
      default: 0,
      minValue: 0,
      description:
        'Concurrent executions reserved for (and capping) the upload endpoint; 0 = none ' +
        '(refused with UploadAuthType NONE)',
    });
    const uploadAllowedOrigin = param('UploadAllowedOrigin', {
      type: 'String',
      default: '*',
      minLength: 1,
      description:
        'Origin allowed to ask for upload URLs and PUT/POST to the source bucket from a browser ' +
        '(CORS), e.g. https://example.com; * = any',
    });

    const cdn = param('Cdn', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        'Serve the destination bucket through a CloudFront distribution (the bucket stays ' +
        'private; only the distribution may read it, under DestinationPrefix). Every output ' +
        'is then public to anyone with its URL',
    });
    const clamdAddress = param('ClamdAddress', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^tcp://([0-9A-Za-z.-]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$',
      constraintDescription: 'empty, or tcp://HOST:PORT',
      description:
        'Scan every upload with the clamd at tcp://HOST:PORT before it is decoded; infected ' +
        'uploads move to the quarantine bucket. Empty = no scanning. Needs ScanSubnetIds and ' +
        'ScanSecurityGroupIds (deploy/aws/README.md: Malware scanning)',
    });
    // Their defaults are placeholders in the form of ids: the template check at synth puts a
    // parameter's default into the function's VpcConfig even where the condition leaves it out,
    // and refuses an empty id (CloudFormation itself would not see it). The rule below refuses
    // the placeholders with ClamdAddress.
    const scanSubnets = param('ScanSubnetIds', {
      type: 'CommaDelimitedList',
      default: NO_SUBNET,
      description:
        'With ClamdAddress: private subnets for the event function, with a route to clamd and ' +
        `an S3 gateway endpoint (or a NAT gateway). ${NO_SUBNET} = none`,
    });
    const scanSecurityGroups = param('ScanSecurityGroupIds', {
      type: 'CommaDelimitedList',
      default: NO_SECURITY_GROUP,
      description:
        "With ClamdAddress: the event function's security groups; clamd's must accept TCP from " +
        `them on its port. ${NO_SECURITY_GROUP} = none`,
    });
    const notifications = param('Notifications', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        'Create an SNS topic the event function publishes to after each source: processed, ' +
        'failed or quarantined (message attribute type); deploy/aws/README.md: Notifications',
    });
    const notificationEmail = param('NotificationEmail', {
      type: 'String',
      default: '',
      allowedPattern: '^$|^[^\\s@]+@[^\\s@]+$',
      constraintDescription: 'empty, or an e-mail address',
      description:
        'With Notifications: an e-mail address subscribed to the topic (confirm the ' +
        'subscription mail); empty = no subscription',
    });

    // ---- Conditions -------------------------------------------------------------------------
    const condition = (name: string, expression: ICfnConditionExpression) =>
      new CfnCondition(this, name, { expression });
    const notEmpty = (p: CfnParameter) => Fn.conditionNot(Fn.conditionEquals(p.valueAsString, ''));

    const hasSourcePrefix = condition('HasSourcePrefix', notEmpty(sourcePrefix));
    const hasSourceSuffix = condition('HasSourceSuffix', notEmpty(sourceSuffix));
    const hasKeyFilter = condition(
      'HasKeyFilter',
      Fn.conditionOr(hasSourcePrefix, hasSourceSuffix),
    );
    const hasDestinationPrefix = condition('HasDestinationPrefix', notEmpty(destinationPrefix));
    const hasRecipe = condition('HasRecipe', notEmpty(recipeFile));
    const hasReservedConcurrency = condition(
      'HasReservedConcurrency',
      Fn.conditionNot(Fn.conditionEquals(reservedConcurrency.valueAsString, '0')),
    );
    const isVersioned = condition(
      'DestinationIsVersioned',
      Fn.conditionEquals(destinationVersioning.valueAsString, 'true'),
    );
    const hasAlarmEmail = condition('HasAlarmEmail', notEmpty(alarmEmail));
    const withUploads = condition(
      'WithUploadEndpoint',
      Fn.conditionEquals(uploadEndpoint.valueAsString, 'true'),
    );
    const withPublicUploads = condition(
      'WithPublicUploadEndpoint',
      Fn.conditionAnd(withUploads, Fn.conditionEquals(uploadAuthType.valueAsString, 'NONE')),
    );
    const uploadHasReservedConcurrency = condition(
      'UploadHasReservedConcurrency',
      Fn.conditionNot(Fn.conditionEquals(uploadReservedConcurrency.valueAsString, '0')),
    );

    // An unauthenticated endpoint must have a cap: without one, anyone could run it at the
    // account's whole concurrency.
    new CfnRule(this, 'PublicUploadEndpointNeedsACap', {
      ruleCondition: Fn.conditionAnd(
        Fn.conditionEquals(uploadEndpoint.valueAsString, 'true'),
        Fn.conditionEquals(uploadAuthType.valueAsString, 'NONE'),
      ) as ICfnRuleConditionExpression,
      assertions: [
        {
          assert: Fn.conditionNot(
            Fn.conditionEquals(uploadReservedConcurrency.valueAsString, '0'),
          ) as ICfnRuleConditionExpression,
          assertDescription:
            'UploadAuthType NONE needs UploadReservedConcurrency > 0: it caps what anonymous ' +
            'callers can spend',
        },
      ],
    });

    const withScanning = condition('WithScanning', notEmpty(clamdAddress));
    const withCdn = condition('WithCdn', Fn.conditionEquals(cdn.valueAsString, 'true'));
    const withNotifications = condition(
      'WithNotifications',
      Fn.conditionEquals(notifications.valueAsString, 'true'),
    );
    const withNotificationEmail = condition(
      'WithNotificationEmail',
      Fn.conditionAnd(withNotifications, notEmpty(notificationEmail)),
    );

    // clamd listens in a private network: without subnets and security groups the function
    // could not reach it, and every upload would be dead-lettered.
    const isUnset = (p: CfnParameter, placeholder: string) =>
      Fn.conditionEachMemberEquals(p.valueAsList, placeholder) as ICfnRuleConditionExpression;
    new CfnRule(this, 'ScanningNeedsANetwork', {
      ruleCondition: Fn.conditionNot(
        Fn.conditionEquals(clamdAddress.valueAsString, ''),
      ) as ICfnRuleConditionExpression,
      assertions: [
        {
          assert: Fn.conditionNot(isUnset(scanSubnets, NO_SUBNET)) as ICfnRuleConditionExpression,
          assertDescription: 'ClamdAddress needs ScanSubnetIds: the subnets clamd is reached from',
        },
        {
          assert: Fn.conditionNot(isUnset(scanSecurityGroups, NO_SECURITY_GROUP)) as ICfnRuleConditionExpression,
          assertDescription: "ClamdAddress needs ScanSecurityGroupIds: the function's groups",
        },
      ],
    });

    const ifThen = (c: CfnCondition, value: unknown) => Fn.conditionIf(c.logicalId, value, Aws.NO_VALUE);

    // ---- Buckets ----------------------------------------------------------------------------
    // The source bucket's name is fixed before anything is created, from the stack's own id.
    // CloudFormation validates a bucket's Lambda notification when it creates the bucket, so
    // the bucket must come after the function's invoke permission; a permission (and the role
    // policy) naming the bucket by Ref would then form a cycle. Naming it up front breaks the
    // cycle without the custom resource CDK otherwise adds (a Node.js Lambda allowed
    // s3:PutBucketNotification on "*"). The last group of the stack id's UUID is lowercase hex,
    // so the name is valid whatever the stack is called, and unique per stack.
    const stackIdSuffix = Fn.select(4, Fn.split('-', Fn.select(2, Fn.split('/', this.stackId))));
    const sourceBucketName = Fn.join('-', ['imgflow-source', stackIdSuffix]);
    const sourceBucketArn = `arn:${Aws.PARTITION}:s3:::${sourceBucketName}`;

    const privateBucket: s3.BucketProps = {
      encryption: s3.BucketEncryption.S3_MANAGED, // SSE-S3: roles and presigned URLs need no KMS grant
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, // no ACLs: only IAM decides
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN, // deleting the stack never deletes images
    };

    // Server access logs of both buckets: who uploaded, read or deleted what, including through
    // presigned URLs, which CloudTrail data events would otherwise be needed for.
    const accessLogs = new s3.Bucket(this, 'AccessLogBucket', {
      ...privateBucket,
      lifecycleRules: [
        { expiration: Duration.days(accessLogDays.valueAsNumber) },
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    // (cdk-nag's S1 exempts it: it is the target of the other buckets' logs.)

    const sourceBucket = new s3.Bucket(this, 'SourceBucket', {
      ...privateBucket,
      bucketName: sourceBucketName,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'source/',
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(7) }],
    });
    // Browsers may PUT/POST to presigned URLs only with CORS; only with the upload endpoint.
    cfn<s3.CfnBucket>(sourceBucket).corsConfiguration = ifThen(withUploads, {
      CorsRules: [
        {
          AllowedMethods: ['PUT', 'POST'],
          AllowedOrigins: [uploadAllowedOrigin.valueAsString],
          AllowedHeaders: ['*'],
          ExposedHeaders: ['ETag'],
          MaxAge: 3000,
        },
      ],
    });

    const destinationBucket = new s3.Bucket(this, 'DestinationBucket', {
      ...privateBucket,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'destination/',
      lifecycleRules: [
        { noncurrentVersionExpiration: Duration.days(noncurrentVersionDays.valueAsNumber) },
        { abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    // Suspended rather than absent when off, so that turning versioning off later takes effect.
    cfn<s3.CfnBucket>(destinationBucket).versioningConfiguration = {
      status: Fn.conditionIf(isVersioned.logicalId, 'Enabled', 'Suspended').toString(),
    };

    // Object ARNs the roles may touch: the bucket plus its prefix, never more.
    const sourceObjects = `${sourceBucketArn}/${sourcePrefix.valueAsString}*`;
    const destinationObjects = `${destinationBucket.bucketArn}/${destinationPrefix.valueAsString}*`;

    // Infected uploads (only with ClamdAddress), private like the others and readable only by
    // the account's admins. Named from the stack id like the source bucket, so that its ARN in
    // the role and in the access-log bucket's policy is text, not a reference to a resource that
    // exists only under a condition.
    const quarantineBucketName = Fn.join('-', ['imgflow-quarantine', stackIdSuffix]);
    const quarantineBucketArn = `arn:${Aws.PARTITION}:s3:::${quarantineBucketName}`;
    const quarantine = new Construct(this, 'Quarantine');
    new s3.Bucket(quarantine, 'Bucket', {
      ...privateBucket,
      bucketName: quarantineBucketName,
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    }).node.addDependency(accessLogs);
    cfn<s3.CfnBucket>(quarantine.node.findChild('Bucket')).loggingConfiguration = {
      destinationBucketName: accessLogs.bucketName,
      logFilePrefix: 'quarantine/',
    };
    forAllResources(quarantine, (r) => (r.cfnOptions.condition = withScanning));
    accessLogs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'QuarantineAccessLogs',
        principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [accessLogs.arnForObjects('quarantine/*')],
        conditions: {
          ArnLike: { 'aws:SourceArn': quarantineBucketArn },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );

    // ---- CDN (optional: Cdn=true) -----------------------------------------------------------
    // CloudFront reads the private destination bucket through Origin Access Control: it signs
    // its requests, and the bucket policy lets exactly this distribution read the outputs under
    // DestinationPrefix. Written as L1 resources: the L2 origin adds its bucket policy statement
    // unconditionally, and this one exists only with Cdn=true.
    const delivery = new Construct(this, 'CloudFront');
    const cdnName = Fn.join('-', ['imgflow', stackIdSuffix]); // unique per account, as required
    const originAccess = new cloudfront.CfnOriginAccessControl(delivery, 'OriginAccess', {
      originAccessControlConfig: {
        name: cdnName,
        description: 'imgflow: the CDN reads the destination bucket',
        originAccessControlOriginType: 's3',
        signingBehavior: 'always',
        signingProtocol: 'sigv4',
      },
    });
    // The objects' own Cache-Control decides (min TTL 0: a "no-cache" manifest or variant is
    // revalidated, an immutable one kept a year); a day for anything without one. Neither
    // query strings, headers nor cookies are part of the key: the outputs do not vary by them.
    const cachePolicy = new cloudfront.CfnCachePolicy(delivery, 'CachePolicy', {
      cachePolicyConfig: {
        name: cdnName,
        comment: 'imgflow outputs: their Cache-Control decides',
        minTtl: 0,
        defaultTtl: 86_400,
        maxTtl: 31_536_000,
        parametersInCacheKeyAndForwardedToOrigin: {
          enableAcceptEncodingGzip: true,
          enableAcceptEncodingBrotli: true,
          cookiesConfig: { cookieBehavior: 'none' },
          headersConfig: { headerBehavior: 'none' },
          queryStringsConfig: { queryStringBehavior: 'none' },
        },
      },
    });
    const distribution = new cloudfront.CfnDistribution(delivery, 'Distribution', {
      distributionConfig: {
        enabled: true,
        comment: 'imgflow: variants and manifests of the destination bucket',
        httpVersion: 'http2and3',
        ipv6Enabled: true,
        origins: [
          {
            id: 'destination',
            domainName: destinationBucket.bucketRegionalDomainName,
            originAccessControlId: originAccess.attrId,
            s3OriginConfig: { originAccessIdentity: '' }, // OAC, not the legacy identity
          },
        ],
        defaultCacheBehavior: {
          targetOriginId: 'destination',
          viewerProtocolPolicy: 'redirect-to-https',
          allowedMethods: ['GET', 'HEAD'],
          cachedMethods: ['GET', 'HEAD'],
          compress: true,
          cachePolicyId: cachePolicy.attrId,
        },
      },
    });
    forAllResources(delivery, (r) => (r.cfnOptions.condition = withCdn));
    Validations.of(distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason: 'Who may view the images is the application owner\'s choice; no country is refused.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'Read-only, cached, public images of GET and HEAD only; a WAF web ACL can be attached ' +
          'to the distribution where rate rules are wanted.',
      },
      {
        id: 'AwsSolutions-CFR3',
        reason:
          'CloudFront standard logs need a bucket with ACLs, which every bucket here refuses ' +
          '(BucketOwnerEnforced); the destination bucket logs every origin fetch.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'The distribution uses its own *.cloudfront.net certificate, whose minimum protocol ' +
          'CloudFront fixes; a custom domain with an ACM certificate sets TLSv1.2_2021.',
      },
    );
    const distributionArn = `arn:${Aws.PARTITION}:cloudfront::${Aws.ACCOUNT_ID}:distribution/${distribution.ref}`;
    const destinationPolicy = cfn<s3.CfnBucketPolicy>(destinationBucket.policy!);
    destinationPolicy.policyDocument = appendStatementsIf(delivery, destinationPolicy.policyDocument, withCdn, [
      new iam.PolicyStatement({
        sid: 'CdnReadsOutputs',
        principals: [new iam.ServicePrincipal('cloudfront.amazonaws.com')],
        actions: ['s3:GetObject'],
        resources: [destinationObjects],
        conditions: { StringEquals: { 'AWS:SourceArn': distributionArn } },
      }),
    ]);

    // ---- Dead-letter queue ------------------------------------------------------------------
    // Lambda's on-failure destination: each message is the failed event with the error and the
    // number of attempts (requestContext.condition, responsePayload), kept 14 days for redrive.
    const deadLetters = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED, // SSE-SQS: the function's role needs no KMS grant
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the dead-letter store (the function's on-failure destination); " +
        'its messages are redriven by hand, so a further DLQ behind it would only move them.',
    });

    // ---- Notifications (optional: Notifications=true) ---------------------------------------
    // One message per source after its manifest.json is written (and when it fails or is
    // quarantined), from the event function alone. Named from the stack id like the quarantine
    // bucket. The role and the function name it by Ref inside Fn::If under the same condition,
    // so CloudFormation creates the topic before the function is told to publish to it.
    // Encrypted with the AWS managed key alias/aws/sns: its key policy lets every principal of
    // the account use it through SNS, so the function's role needs no KMS grant, and SNS
    // decrypts each message before it delivers it, so subscribers need none either. (AWS services
    // that publish, like CloudWatch for the alarm topic, would need a customer managed key;
    // nothing but the function publishes here.) An encrypted topic takes HTTPS and SigV4
    // requests only; the policy also says so explicitly.
    const notificationTopic = new sns.Topic(this, 'NotificationTopic', {
      topicName: Fn.join('-', ['imgflow-notifications', stackIdSuffix]),
      displayName: 'imgflow notifications',
      enforceSSL: true,
    });
    cfn<sns.CfnTopic>(notificationTopic).kmsMasterKeyId = 'alias/aws/sns';
    new sns.Subscription(notificationTopic, 'Email', {
      topic: notificationTopic,
      protocol: sns.SubscriptionProtocol.EMAIL,
      endpoint: notificationEmail.valueAsString,
    });
    forAllResources(notificationTopic, (r) => (r.cfnOptions.condition = withNotifications));
    cfn<sns.CfnSubscription>(notificationTopic.node.findChild('Email')).cfnOptions.condition =
      withNotificationEmail;

    // ---- The event function -----------------------------------------------------------------
    const functionLogs = logGroup(this, 'FunctionLogs', logRetention);
    // JSON log format: Lambda's own START/END/REPORT become JSON too, and it filters the
    // function's JSON lines by their level (LogLevel, set below: the L2 takes no parameter).
    // AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL tell the runtime the same.
    const jsonLogs = {
      loggingFormat: lambda.LoggingFormat.JSON,
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
    };

    // Written statement by statement: the grant helpers would add wider actions (s3:GetObject*,
    // s3:List*, s3:Abort*, sqs:GetQueueAttributes, ...).
    const functionRole = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'imgflow function: read uploads, write renditions, log, dead-letter',
      inlinePolicies: {
        imgflow: new iam.PolicyDocument({
          statements: [
            statement('ReadSources', ['s3:GetObject'], [sourceObjects]),
            // Names only, no contents: without s3:ListBucket S3 answers a missing key with 403,
            // and the handler could not tell a first upload (no manifest.json yet) or a source
            // deleted meanwhile from a refusal: every first upload would fail.
            statement(
              'TellMissingKeys',
              ['s3:ListBucket'],
              [destinationBucket.bucketArn, sourceBucketArn],
            ),
            // GetObject: the handler reads its own manifest.json (idempotency); DeleteObject: a
            // deleted source takes its renditions with it.
            statement(
              'WriteRenditions',
              ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'],
              [destinationObjects],
            ),
            ...logStatements(functionLogs),
            // Lambda sends failed events to the on-failure destination with the function's role.
            statement('DeadLetter', ['sqs:SendMessage'], [deadLetters.queueArn]),
          ],
        }),
      },
    });
    acknowledgeObjectWildcards(functionRole, [sourceObjects, destinationObjects]);
    // Only with ClamdAddress: an infected upload is copied to the quarantine and deleted from
    // the source, and the function joins the subnets clamd is reached from, which Lambda does
    // with the function's role. Network interfaces cannot be named before they exist, so those
    // actions name the account and region; DescribeNetworkInterfaces and DescribeSubnets take
    // no resource at all.
    addStatementsIf(functionRole, withScanning, [
      statement('QuarantineInfected', ['s3:PutObject'], [`${quarantineBucketArn}/*`]),
      statement('DeleteInfectedSources', ['s3:DeleteObject'], [sourceObjects]),
      statement(
        'JoinScanSubnets',
        [
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:*`],
      ),
      statement('DescribeScanSubnets', ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'], ['*']),
    ]);
    // Only with Notifications: publish to the one topic (no KMS grant: see the topic).
    addStatementsIf(functionRole, withNotifications, [
      statement('PublishNotifications', ['sns:Publish'], [notificationTopic.topicArn]),
    ]);

    const imgflowFunction = new lambda.Function(this, 'Function', {
      description: 'imgflow: renders each uploaded image into its variants and manifest.json',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: functionCode(this, codeBucket, codeKey),
      architecture: lambda.Architecture.custom(architecture.valueAsString),
      memorySize: memorySize.valueAsNumber,
      timeout: Duration.seconds(timeout.valueAsNumber),
      role: functionRole,
      logGroup: functionLogs,
      ...jsonLogs,
      recursiveLoop: lambda.RecursiveLoop.TERMINATE,
      environment: {
        [Env.SOURCE_BUCKET]: sourceBucketName,
        [Env.DESTINATION_BUCKET]: destinationBucket.bucketName,
        [Env.DESTINATION_PREFIX]: ifThen(hasDestinationPrefix, destinationPrefix.valueAsString).toString(),
        [Env.CONFIG]: ifThen(hasRecipe, recipeFile.valueAsString).toString(),
        [Env.CLAMD]: ifThen(withScanning, clamdAddress.valueAsString).toString(),
        [Env.QUARANTINE_BUCKET]: ifThen(withScanning, quarantineBucketName).toString(),
        [Env.NOTIFY_TOPIC_ARN]: ifThen(withNotifications, notificationTopic.topicArn).toString(),
      },
    });
    const cfnFunction = cfn<lambda.CfnFunction>(imgflowFunction);
    cfnFunction.vpcConfig = ifThen(withScanning, {
      SubnetIds: scanSubnets.valueAsList,
      SecurityGroupIds: scanSecurityGroups.valueAsList,
    });
    cfnFunction.addPropertyOverride('LoggingConfig.ApplicationLogLevel', logLevel.valueAsString);
    cfnFunction.reservedConcurrentExecutions = Token.asNumber(
      ifThen(hasReservedConcurrency, reservedConcurrency.valueAsNumber),
    );

    new lambda.CfnEventInvokeConfig(this, 'FunctionAsyncConfig', {
      functionName: imgflowFunction.functionName,
      qualifier: '$LATEST',
      maximumRetryAttempts: maxRetries.valueAsNumber,
      maximumEventAgeInSeconds: maxEventAge.valueAsNumber,
      destinationConfig: { onFailure: { destination: deadLetters.queueArn } },
    });

    // ---- Events: source bucket → function ---------------------------------------------------
    const s3Invokes = new lambda.CfnPermission(this, 'SourceBucketInvokesFunction', {
      action: 'lambda:InvokeFunction',
      functionName: imgflowFunction.functionArn,
      principal: 's3.amazonaws.com',
      sourceAccount: Aws.ACCOUNT_ID,
      sourceArn: sourceBucketArn,
    });
    sourceBucket.node.addDependency(s3Invokes);

    const keyFilter = ifThen(hasKeyFilter, {
      S3Key: {
        Rules: [
          ifThen(hasSourcePrefix, { Name: 'prefix', Value: sourcePrefix.valueAsString }),
          ifThen(hasSourceSuffix, { Name: 'suffix', Value: sourceSuffix.valueAsString }),
        ],
      },
    });
    // ObjectRemoved too: the handler deletes a removed source's renditions (the role's
    // s3:DeleteObject is for that).
    cfn<s3.CfnBucket>(sourceBucket).notificationConfiguration = {
      lambdaConfigurations: ['s3:ObjectCreated:*', 's3:ObjectRemoved:*'].map((event) => ({
        event,
        function: imgflowFunction.functionArn,
        filter: keyFilter,
      })),
    };

    // ---- Upload-URL endpoint (optional: UploadEndpoint=true) --------------------------------
    // S3 Block Public Access forbids a publicly writable bucket, so uploads go through presigned
    // URLs that this second function (same zip, IMGFLOW_MODE=presign) hands out: a server-chosen
    // key under SourcePrefix, content type image/*, size up to the recipe's max_input_bytes. Its
    // role may only s3:PutObject there, which is all a presigned PUT or POST needs.
    const upload = new Construct(this, 'Upload');
    const uploadLogs = logGroup(upload, 'Logs', logRetention);
    const uploadRole = new iam.Role(upload, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'imgflow upload endpoint: sign PUT/POST URLs for new uploads, log',
      inlinePolicies: {
        imgflow: new iam.PolicyDocument({
          statements: [
            statement('SignUploads', ['s3:PutObject'], [sourceObjects]),
            ...logStatements(uploadLogs),
          ],
        }),
      },
    });
    acknowledgeObjectWildcards(uploadRole, [sourceObjects]);

    const uploadFunction = new lambda.Function(upload, 'Function', {
      description: 'imgflow upload endpoint: presigned PUT/POST URLs for the source bucket',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: functionCode(upload, codeBucket, codeKey),
      architecture: lambda.Architecture.custom(architecture.valueAsString),
      memorySize: 256, // signs a URL: no image work
      timeout: Duration.seconds(10),
      role: uploadRole,
      logGroup: uploadLogs,
      ...jsonLogs,
      recursiveLoop: lambda.RecursiveLoop.TERMINATE,
      environment: {
        [Env.MODE]: PRESIGN_MODE,
        [Env.SOURCE_BUCKET]: sourceBucketName,
        [Env.SOURCE_PREFIX]: sourcePrefix.valueAsString,
        [Env.CONFIG]: ifThen(hasRecipe, recipeFile.valueAsString).toString(),
      },
    });
    const cfnUploadFunction = cfn<lambda.CfnFunction>(uploadFunction);
    cfnUploadFunction.addPropertyOverride('LoggingConfig.ApplicationLogLevel', logLevel.valueAsString);
    cfnUploadFunction.reservedConcurrentExecutions = Token.asNumber(
      ifThen(uploadHasReservedConcurrency, uploadReservedConcurrency.valueAsNumber),
    );

    const uploadUrl = new lambda.CfnUrl(upload, 'Url', {
      targetFunctionArn: uploadFunction.functionArn,
      authType: uploadAuthType.valueAsString,
      cors: {
        allowOrigins: [uploadAllowedOrigin.valueAsString],
        allowMethods: ['GET', 'POST'],
        allowHeaders: [
          'content-type',
          'authorization',
          'x-amz-date',
          'x-amz-security-token',
          'x-amz-content-sha256',
        ],
        maxAge: 300,
      },
    });
    // AuthType NONE: the function's resource policy must let anyone call the URL (since
    // October 2025 a URL needs both lambda:InvokeFunctionUrl and lambda:InvokeFunction through
    // it). AWS_IAM: the callers' own IAM policies grant the same two actions.
    const publicInvoke = [
      new lambda.CfnPermission(upload, 'PublicInvokeUrl', {
        action: 'lambda:InvokeFunctionUrl',
        functionName: uploadFunction.functionArn,
        principal: '*',
        functionUrlAuthType: 'NONE',
      }),
      new lambda.CfnPermission(upload, 'PublicInvokeThroughUrl', {
        action: 'lambda:InvokeFunction',
        functionName: uploadFunction.functionArn,
        principal: '*',
        invokedViaFunctionUrl: true,
      }),
    ];
    forAllResources(upload, (r) => (r.cfnOptions.condition = withUploads));
    publicInvoke.forEach((p) => (p.cfnOptions.condition = withPublicUploads));

    // ---- Alarms, their topic and the dashboard ----------------------------------------------
    const fiveMinutes = Duration.minutes(5);
    const errors = imgflowFunction.metricErrors({ period: fiveMinutes, statistic: 'Sum' });
    const throttles = imgflowFunction.metricThrottles({ period: fiveMinutes, statistic: 'Sum' });
    const invocations = imgflowFunction.metricInvocations({ period: fiveMinutes, statistic: 'Sum' });
    const durationP50 = imgflowFunction.metricDuration({ period: fiveMinutes, statistic: 'p50' });
    const durationP99 = imgflowFunction.metricDuration({ period: fiveMinutes, statistic: 'p99' });
    const deadLetterDepth = deadLetters.metricApproximateNumberOfMessagesVisible({
      period: fiveMinutes,
      statistic: 'Maximum',
    });
    // p99 duration as a percentage of the timeout: the timeout is a parameter, and an alarm
    // threshold cannot be computed from one, but a metric-math expression can divide by it.
    const durationOfTimeout = new cloudwatch.MathExpression({
      expression: `100 * p99 / (${timeout.valueAsString} * 1000)`,
      usingMetrics: { p99: durationP99 },
      label: 'p99 duration, % of the timeout',
      period: fiveMinutes,
    });

    const alarms = [
      new cloudwatch.Alarm(this, 'ErrorsAlarm', {
        alarmDescription: 'imgflow: the function failed (a retry or the dead-letter queue follows)',
        metric: errors,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'ThrottlesAlarm', {
        alarmDescription: 'imgflow: invocations were throttled (concurrency exhausted)',
        metric: throttles,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
        alarmDescription: 'imgflow: events are waiting in the dead-letter queue (see README: redrive)',
        metric: deadLetterDepth,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DurationAlarm', {
        alarmDescription: 'imgflow: p99 duration is above 90% of the timeout',
        metric: durationOfTimeout,
        threshold: 90,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];

    // No KMS key on the topic: CloudWatch alarms cannot publish to one encrypted with the AWS
    // managed SNS key, and the messages carry only alarm names and states. Publishing needs TLS.
    const alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'imgflow alarms',
      enforceSSL: true,
    });
    // The topic policy replaces SNS's default one, so CloudWatch must be let in explicitly, and
    // only for this account's alarms.
    alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
        },
      }),
    );
    new sns.Subscription(alarmTopic, 'Email', {
      topic: alarmTopic,
      protocol: sns.SubscriptionProtocol.EMAIL,
      endpoint: alarmEmail.valueAsString,
    });
    forAllResources(alarmTopic, (r) => (r.cfnOptions.condition = hasAlarmEmail));
    const topicArns = Token.asList(ifThen(hasAlarmEmail, [alarmTopic.topicArn]));
    for (const alarm of alarms) {
      const cfnAlarm = cfn<cloudwatch.CfnAlarm>(alarm);
      cfnAlarm.alarmActions = topicArns;
      cfnAlarm.okActions = topicArns;
    }

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(24),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Invocations', left: [invocations], width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Errors and throttles', left: [errors, throttles], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Duration p50 / p99 (ms)',
            left: [durationP50, durationP99],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Dead-letter queue depth',
            left: [deadLetterDepth],
            width: 12,
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 })],
      ],
    });

    // ---- Outputs ----------------------------------------------------------------------------
    const output = (name: string, value: string, description: string, c?: CfnCondition) => {
      const o = new CfnOutput(this, name, { value, description });
      if (c) o.condition = c;
    };
    output('SourceBucketName', sourceBucketName, 'Upload images here (under SourcePrefix)');
    output('DestinationBucketName', destinationBucket.bucketName, 'Variants and manifest.json appear here');
    output('FunctionName', imgflowFunction.functionName, 'The event function');
    output('FunctionLogGroup', functionLogs.logGroupName, "The event function's logs");
    output('DeadLetterQueueUrl', deadLetters.queueUrl, 'Failed events, with their reason');
    output('DeadLetterQueueArn', deadLetters.queueArn, 'Failed events, with their reason');
    output(
      'DashboardUrl',
      `https://console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${dashboard.dashboardName}`,
      'Invocations, errors, duration, dead letters',
    );
    output('CdnDomainName', distribution.attrDomainName, 'https://<this>/<output key>', withCdn);
    output('CdnDistributionId', distribution.ref, 'For invalidations', withCdn);
    output(
      'QuarantineBucketName',
      quarantineBucketName,
      'Infected uploads, with their signature in the imgflow-signature metadata',
      withScanning,
    );
    output(
      'NotificationTopicArn',
      notificationTopic.topicArn,
      'Subscribe here: one message per processed, failed or quarantined source',
      withNotifications,
    );
    output('UploadEndpointUrl', uploadUrl.attrFunctionUrl, 'Ask here for a presigned upload URL', withUploads);
    output('UploadFunctionName', uploadFunction.functionName, 'The upload endpoint function', withUploads);
    output('UploadLogGroup', uploadLogs.logGroupName, "The upload endpoint's logs", withUploads);
  }
}

// The zip, from the CodeBucket/CodeKey parameters. CDK warns that a changed object under the same
// key would not update the function; upload-code names each build by its SHA-256 instead, so a
// new build is a new key and the stack update replaces the code.
function functionCode(scope: Construct, bucket: CfnParameter, key: CfnParameter): lambda.Code {
  const bucketRef = s3.Bucket.fromBucketName(scope, 'CodeBucketRef', bucket.valueAsString);
  Validations.of(bucketRef).acknowledge({
    id: 'Annotation::@aws-cdk/aws-lambda:codeFromBucketObjectVersionNotSpecified',
    reason: 'CodeKey names the zip by its SHA-256: every build has its own key.',
  });
  return lambda.Code.fromBucket(bucketRef, key.valueAsString);
}

// The L1 resource behind an L2 construct, for properties the L2 does not take from a parameter.
function cfn<T extends CfnResource>(construct: IConstruct): T {
  return construct.node.defaultChild as T;
}

function forAllResources(scope: IConstruct, f: (r: CfnResource) => void) {
  for (const c of scope.node.findAll()) if (CfnResource.isCfnResource(c)) f(c);
}

function statement(sid: string, actions: string[], resources: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid, effect: iam.Effect.ALLOW, actions, resources });
}

// A function's own log group, kept when the stack is deleted (logs outlive the function).
function logGroup(scope: Construct, id: string, retention: CfnParameter): logs.LogGroup {
  const group = new logs.LogGroup(scope, id, { removalPolicy: RemovalPolicy.RETAIN });
  cfn<logs.CfnLogGroup>(group).retentionInDays = retention.valueAsNumber;
  return group;
}

// Statements granted only under a condition, each wrapped in Fn::If: CloudFormation leaves it
// out (AWS::NoValue) when the condition is false, so a policy grants exactly what the deployed
// features use. Appended to the role's one inline policy.
function addStatementsIf(role: iam.Role, c: CfnCondition, statements: iam.PolicyStatement[]) {
  const cfnRole = cfn<iam.CfnRole>(role);
  const inline = Stack.of(role).resolve(cfnRole.policies) as { policyName: string; policyDocument: unknown }[];
  if (inline.length !== 1) throw new Error(`${role.node.path}: expected one inline policy`);
  const [{ policyName, policyDocument }] = inline;
  cfnRole.policies = [
    { policyName, policyDocument: appendStatementsIf(role, policyDocument, c, statements) },
  ];
}

// A policy document with the conditional statements after its own, resolved at synthesis (so
// statements added to the document before then are kept).
function appendStatementsIf(
  scope: IConstruct,
  document: unknown,
  c: CfnCondition,
  statements: iam.PolicyStatement[],
): IResolvable {
  return Lazy.any({
    produce: () => {
      const resolved = Stack.of(scope).resolve(document) as { Statement: unknown[] };
      return {
        ...resolved,
        Statement: [
          ...resolved.Statement,
          ...statements.map((st) => Fn.conditionIf(c.logicalId, st.toStatementJson(), Aws.NO_VALUE)),
        ],
      };
    },
  });
}

// Writing to its own log group: the group exists, so no logs:CreateLogGroup. The group's Arn
// attribute ends in ":*", which covers the group's log streams and nothing else.
function logStatements(group: logs.LogGroup): iam.PolicyStatement[] {
  return [statement('Logs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [group.logGroupArn])];
}

// cdk-nag reports each object-ARN wildcard (bucket/prefix*) as a finding. Objects under a prefix
// can only be named with one; that is the narrowest grant for "any upload under the prefix".
function acknowledgeObjectWildcards(role: iam.Role, objectArns: string[]) {
  const stack = Stack.of(role);
  for (const arn of objectArns) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(stack, arn)}]`,
      reason:
        'Object ARNs under one prefix of one bucket; keys are chosen by uploaders, so a ' +
        'wildcard after the prefix is the narrowest resource that names them.',
    });
  }
}

// A finding's id names the resource as cdk-nag flattens it (tokens become <LogicalId>,
// <AWS::Partition>, ...); its own flattening is used so that the id matches exactly.
function nagResource(stack: Stack, arn: string): string {
  return flattenCfnReference(stack.resolve(arn));
}
