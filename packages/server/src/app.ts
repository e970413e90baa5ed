import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { ensureBuiltinAlertRules } from "./alerts/builtin.js";
import { type Alerts, createAlerts } from "./alerts/index.js";
import { createApprovalEngine } from "./approvals/engine.js";
import { createApprovalPolicyService } from "./approvals/policies.js";
import { createApprovalRepository } from "./approvals/repository.js";
import { approvalPolicyRoutes } from "./approvals/routes.js";
import { type Checkpointer, createCheckpointer } from "./audit/checkpoints.js";
import { createAuditHmac } from "./audit/hmac.js";
import { createAuditLog } from "./audit/log.js";
import { type AuditRetention, createAuditRetention } from "./audit/retention.js";
import { createSequencer, type Sequencer } from "./audit/sequencer.js";
import { createAuditKeys } from "./audit/signing.js";
import { type Authenticator, createAuthenticator } from "./auth/authenticate.js";
import { createApiKeyRepository } from "./auth/repository.js";
import { createSessionTokens } from "./auth/session-tokens.js";
import { type CairnAuthorizer, createAuthorizer } from "./authz/authorizer.js";
import { ensureBuiltinRoles } from "./authz/builtin.js";
import { type BootstrapResult, bootstrap } from "./bootstrap.js";
import { createHeadCache } from "./cache/heads.js";
import { createValueCache } from "./cache/values.js";
import { loadKek } from "./crypto/kek.js";
import { createKeyring } from "./crypto/keyring.js";
import { migrate, openStore, type Store } from "./db/database.js";
import { createRotationSteps } from "./domains/admin/jobs.js";
import { createKeyRotationRepository } from "./domains/admin/repository.js";
import { keyRotationRoutes } from "./domains/admin/routes.js";
import { createKeyRotationService, type KeyRotationService } from "./domains/admin/service.js";
import { alertRoutes } from "./domains/alerts/routes.js";
import { createAuditRepository } from "./domains/audit/repository.js";
import { auditRoutes } from "./domains/audit/routes.js";
import { createAuditService } from "./domains/audit/service.js";
import { auditRetentionRoutes } from "./domains/audit-retention/routes.js";
import { createProtectedEnvironmentGate } from "./domains/change-requests/gate.js";
import { createChangeRequestRepository } from "./domains/change-requests/repository.js";
import { changeRequestRoutes } from "./domains/change-requests/routes.js";
import { createChangeRequestService } from "./domains/change-requests/service.js";
import { createConfigRepository } from "./domains/configs/repository.js";
import { configRoutes } from "./domains/configs/routes.js";
import type { ResolvedConfig } from "./domains/configs/schemas.js";
import { createConfigService } from "./domains/configs/service.js";
import { createEnvironmentRepository } from "./domains/environments/repository.js";
import { environmentRoutes } from "./domains/environments/routes.js";
import { createEnvironmentService } from "./domains/environments/service.js";
import { createKeySchemaRepository } from "./domains/key-schemas/repository.js";
import { keySchemaRoutes } from "./domains/key-schemas/routes.js";
import { createKeySchemaService } from "./domains/key-schemas/service.js";
import { createKeyRepository } from "./domains/keys/repository.js";
import { keyRoutes } from "./domains/keys/routes.js";
import { createKeyService, type KeyService } from "./domains/keys/service.js";
import { createNamespaceRepository } from "./domains/namespaces/repository.js";
import { namespaceRoutes } from "./domains/namespaces/routes.js";
import { createNamespaceService } from "./domains/namespaces/service.js";
import { createRequests, type Requests } from "./domains/requests/index.js";
import { requestRoutes } from "./domains/requests/routes.js";
import { createGroupService } from "./domains/roles/groups.js";
import { createRoleRepository } from "./domains/roles/repository.js";
import { roleRoutes } from "./domains/roles/routes.js";
import { createRoleService } from "./domains/roles/service.js";
import { createPolicyRepository } from "./domains/secrets/policy-repository.js";
import { policyRoutes } from "./domains/secrets/policy-routes.js";
import { createPolicyService, secretsPortOf } from "./domains/secrets/policy-service.js";
import { createSecretRepository } from "./domains/secrets/repository.js";
import { secretRoutes } from "./domains/secrets/routes.js";
import { createSecretService, type SecretService } from "./domains/secrets/service.js";
import { publicSessionRoutes, sessionRoutes } from "./domains/sessions/routes.js";
import { createSessionService } from "./domains/sessions/service.js";
import { createTenantSettingsRepository } from "./domains/tenant-settings/repository.js";
import { tenantSettingsRoutes } from "./domains/tenant-settings/routes.js";
import { createTenantSettingsService } from "./domains/tenant-settings/service.js";
import { tenantRoutes } from "./domains/tenants/routes.js";
import { createTenantService } from "./domains/tenants/service.js";
import { createUserRepository } from "./domains/users/repository.js";
import { userRoutes } from "./domains/users/routes.js";
import { createUserService } from "./domains/users/service.js";
import { createWatchRepository } from "./domains/watch/repository.js";
import { watchRoutes } from "./domains/watch/routes.js";
import { createWatchService, type WatchService } from "./domains/watch/service.js";
import { createEventBus, type EventBus } from "./events/bus.js";
import { closeRedis, connectRedis, type Log } from "./events/redis.js";
import { registerConsole } from "./http/console.js";
import { registerMetricsRoute } from "./http/metrics.js";
import { registerOpsRoutes } from "./http/ops.js";
import { registerProblemHandler } from "./http/problem.js";
import { newId } from "./ids.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { createRateLimiter, type RateLimiter } from "./ratelimit/limiter.js";
import { createRotationScheduler, type RotationScheduler } from "./secrets/scheduler.js";
import { createStrategyHook } from "./secrets/strategies/hook.js";
import { defaultStrategies } from "./secrets/strategies/index.js";
import type { Settings } from "./settings.js";
import { createWatchHub } from "./watch/hub.js";
import { startWorker } from "./worker.js";

export interface CairnApp {
  app: FastifyInstance;
  store: Store;
  bootstrap: BootstrapResult;
  /** Set when this start generated `<data-dir>/master.key`. */
  generatedMasterKeyFile?: string;
  /** RBAC/ABAC decisions: `authorizer.require(ctx, {resource, namespace?, action, environment?})`. */
  authorizer: CairnAuthorizer;
  /** Change notifications between replicas (`keys.changed`, `authz.changed`, …). */
  bus: EventBus;
  /** Sliding-window limits: Redis when REDIS_URL is set, in-process otherwise. */
  rateLimiter: RateLimiter;
  authenticator: Authenticator;
  keys: KeyService;
  /** Orders committed audit events into the Merkle logs and numbers config changes for watchers. */
  sequencer: Sequencer;
  /** Signs audit checkpoints (every CAIRN_AUDIT_CHECKPOINT_EVENTS events or _SECONDS); `checkpointNow(logId)`. */
  checkpointer: Checkpointer;
  /** Audit retention: month partitions ahead, archives of old ones (`run()`, `archived(logId)`). */
  retention: AuditRetention;
  /** Alert rules, channels, the evaluator and the delivery outbox (`alerts.evaluator.flush()`, `alerts.outbox.flush()`). */
  alerts: Alerts;
  /** Prometheus metrics of this app (GET /metrics): see the top of src/metrics.ts for what to call. */
  metrics: Metrics;
  /** Watch streams (GET /watch): `compact()` trims config_changes to CAIRN_WATCH_RETENTION; `stats()`. */
  watch: WatchService;
  /** Access requests: `service`, `processor` (grant, revokeDue, expireApprovals), `queue`, `providers`. */
  requests: Requests;
  /** Master-key and data-key rotations (POST /admin/key-rotations): `drain()` runs pending batches now. */
  keyRotations: KeyRotationService;
  /** Typed secrets over configs: `rotate(ctx, address, options)`, `reveal(ctx, address)`, `setRotationHook(hook)`. */
  secrets: SecretService;
  /** Secret rotation policies on schedule (CAIRN_ROTATION_POLL_SECONDS): `runOnce()`, `flush()`, `kick()`. */
  rotation: RotationScheduler;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids only need to be unique, not unguessable: a random prefix per process and a counter, which
 * costs nothing per request (fresh randomness per request measured ~30 % of a bare Fastify route).
 */
const requestIdPrefix = newId("request");
let requestCounter = 0;
const nextRequestId = () => `${requestIdPrefix}.${(++requestCounter).toString(36)}`;

/**
 * Builds the whole server: settings → master key → store (migrated) → first-start bootstrap →
 * services → Fastify with its plugins in order: docs, error handling, ops routes, authenticated API.
 */
export async function buildApp(settings: Settings): Promise<CairnApp> {
  const master = await loadKek(settings);
  const store = await openStore(settings);
  // Closed in reverse order on shutdown (and when the start fails half-way), before the store.
  const stops: (() => Promise<unknown>)[] = [];
  // Infrastructure built before Fastify logs through Fastify's logger once it exists.
  let appLog: FastifyBaseLogger | undefined;
  const log: Log = { warn: (o, m) => appLog?.warn(o, m), info: (o, m) => appLog?.info(o, m) };
  try {
    await migrate(store.db);
    const db = store.db;
    const kek = master.kek;
    const auditHmac = createAuditHmac({ kek });
    const audit = createAuditLog({ hmac: auditHmac });
    const metrics = createMetrics();
    const apiKeys = createApiKeyRepository(db);
    const tenantInitializers = [ensureBuiltinRoles, ensureBuiltinAlertRules];
    const boot = await bootstrap({ db, audit, initializers: tenantInitializers, adminKey: settings.bootstrapAdminKey });
    const redis = settings.redisUrl ? await connectRedis(settings.redisUrl, log) : undefined;
    if (redis) stops.push(() => closeRedis(redis));
    const bus = await createEventBus(settings, { log, redis });
    stops.push(() => bus.close());
    const rateLimiter = createRateLimiter(settings, redis, { log });
    const sequencer = createSequencer({
      db,
      bus,
      log,
      onBatch: ({ oldestCommittedAt }) => {
        if (oldestCommittedAt) metrics.auditAppendLag(Math.max(0, (Date.now() - oldestCommittedAt.getTime()) / 1000));
      },
    });
    sequencer.start();
    // An event recorded: into the log (and a config change to its watchers) within milliseconds.
    audit.onAppend(sequencer.kick);
    // Before the bus closes (stops run in reverse), so the last batch is still announced.
    stops.push(() => sequencer.stop());
    const auditKeys = createAuditKeys({ kek, originHost: settings.auditOriginHost });
    const checkpointer = createCheckpointer({
      db,
      keys: auditKeys,
      bus,
      everyEvents: settings.auditCheckpointEvents,
      everySeconds: settings.auditCheckpointSeconds,
      log,
    });
    checkpointer.start();
    stops.push(() => checkpointer.stop());

    const authorizer = createAuthorizer({ db, audit, bus });
    stops.push(async () => authorizer.close());
    const roleRepo = createRoleRepository();
    const roles = createRoleService({ db, repo: roleRepo, audit, authorizer });
    const groups = createGroupService({ db, repo: roleRepo, audit, authorizer });
    const keyring = createKeyring({
      db,
      kek,
      audit,
      log,
      maxEncryptions: settings.dataKeyMaxEncryptions,
    });
    const namespaces = createNamespaceService({ db, repo: createNamespaceRepository(), keyring });
    const environments = createEnvironmentService({ db, repo: createEnvironmentRepository(db), audit, bus });
    const watchRepo = createWatchRepository(db);
    const watch = createWatchService({
      repo: watchRepo,
      hub: createWatchHub({ repo: watchRepo, bus, log }),
      environments,
      authorizer,
      bus,
      retention: settings.watchRetention,
      heartbeatSeconds: settings.watchHeartbeatSeconds,
      maxBufferBytes: settings.watchMaxBufferBytes,
      log,
      metrics,
    });
    watch.start();
    stops.push(async () => watch.close());
    const keySchemas = createKeySchemaService({ db, repo: createKeySchemaRepository(db), namespaces, audit });
    const values =
      settings.cacheMegabytes > 0
        ? createValueCache<ResolvedConfig>({ maxBytes: settings.cacheMegabytes * 1024 * 1024, bus, counters: metrics.caches })
        : undefined;
    if (values) stops.push(async () => values.close());
    const tenantSettings = createTenantSettingsService({ db, repo: createTenantSettingsRepository(), audit, bus });
    stops.push(async () => tenantSettings.close());
    // Named prepared statements are a node-postgres feature (PGlite runs in process: nothing to save).
    const preparedWrites = store.kind === "postgres" && settings.databasePreparedStatements;
    const configs = createConfigService({
      db,
      repo: createConfigRepository(db, { preparedWrites }),
      namespaces,
      environments,
      keySchemas,
      keyring,
      audit,
      authz: authorizer,
      maxValueBytes: settings.maxValueBytes,
      values,
      heads: redis ? createHeadCache(redis, { log, counters: metrics.caches }) : undefined,
      metrics,
      tenantSettings,
    });
    const secrets = createSecretService({
      configs,
      repo: createSecretRepository(db),
      namespaces,
      authz: authorizer,
      audit,
      defaultGraceSeconds: settings.secretGraceSeconds,
      protection: { environments, resolvedFrom: configs.resolvedFrom },
    });
    // Rotation policies (issue 5 point 4-5): strategies run as the secrets' rotation hook; the scheduler on every replica.
    const rotationPolicies = createPolicyRepository(db);
    const strategies = defaultStrategies();
    const secretsPort = secretsPortOf(secrets);
    secrets.setRotationHook(createStrategyHook({ db, repo: rotationPolicies, strategies, secrets: secretsPort, log }));
    const rotation = createRotationScheduler({
      db,
      repo: rotationPolicies,
      audit,
      secrets: secretsPort,
      log,
      pollSeconds: settings.rotationPollSeconds,
      retryBaseSeconds: settings.rotationRetryBaseSeconds,
      retryMaxSeconds: settings.rotationRetryMaxSeconds,
      leaseSeconds: settings.rotationLeaseSeconds,
    });
    rotation.start();
    stops.push(() => rotation.stop());
    const rotationPolicyService = createPolicyService({
      db,
      repo: rotationPolicies,
      audit,
      secrets: secretsPort,
      strategies,
      onChanged: () => rotation.kick(),
    });
    // Approvals (issue 8 point 4): one engine for access requests and protected-environment change requests.
    const approvals = createApprovalEngine({ db, audit, authz: authorizer });
    const approvalRepo = createApprovalRepository();
    const approvalPolicies = createApprovalPolicyService({ db, repo: approvalRepo, audit });
    const changeRequests = createChangeRequestService({
      db,
      repo: createChangeRequestRepository(),
      configs,
      configRepo: createConfigRepository(db, { preparedWrites }),
      namespaces,
      engine: approvals,
      audit,
      authz: authorizer,
      kek,
    });
    const protectedEnvironments = createProtectedEnvironmentGate({
      environments,
      changeRequests,
      authz: authorizer,
      resolvedFrom: configs.resolvedFrom,
    });
    const sessionTokens = createSessionTokens({ db, kek });
    const userRepo = createUserRepository(db);
    const sessions = createSessionService({ db, users: userRepo, tokens: sessionTokens, audit, limiter: rateLimiter });
    const users = createUserService({
      db,
      repo: userRepo,
      audit,
      onDisabled: async (userId, tenantId) => {
        sessions.forget(userId);
        await authorizer.changed(tenantId);
      },
    });
    const tenants = createTenantService({ db, audit, initializers: tenantInitializers });
    const authenticator = createAuthenticator({
      sessions,
      db,
      repo: apiKeys,
      audit,
      cacheSeconds: settings.keyCacheSeconds,
      bus,
      limiter: rateLimiter,
      defaultRateLimit: settings.defaultRateLimit,
      usageFlushSeconds: settings.usageFlushSeconds,
      onExpired: (keyId) => keys.expiredSeen(keyId),
      log,
      metrics,
    });
    stops.push(() => authenticator.close());
    const keys = createKeyService({ db, repo: createKeyRepository(), audit, bus, verifier: authenticator, log });
    keys.start();
    stops.push(() => keys.close());
    const alerts = createAlerts({ db, kek, audit, bus, log, settings });
    alerts.start();
    stops.push(() => alerts.stop());
    // Access requests (issue 8): queues per provider; `--role worker|all` also grants and revokes here.
    const requests = createRequests({ db, audit, authz: authorizer, bus, redis, kek, settings, log, approvals });
    stops.push(() => requests.close());
    if (settings.role !== "api") stops.push(startWorker({ requests, bus, log, settings }).stop);
    const retention = createAuditRetention({
      db,
      kind: store.kind,
      repo: createAuditRepository(db),
      keys: auditKeys,
      checkpointer,
      audit,
      retentionDays: settings.auditRetentionDays,
      archiveDir: settings.auditArchiveDir,
      log,
    });
    retention.start();
    stops.push(() => retention.stop());
    const keyRotationRepo = createKeyRotationRepository();
    const keyRotations = createKeyRotationService({
      db,
      repo: keyRotationRepo,
      steps: createRotationSteps({ kek, keyring, repo: keyRotationRepo, batchSize: settings.keyRotationBatchSize, log }),
      kek,
      keyring,
      namespaces,
      audit,
      bus,
      authz: authorizer,
      log,
    });
    keyRotations.start();
    stops.push(() => keyRotations.stop());
    const auditService = createAuditService({
      db,
      repo: createAuditRepository(db),
      keys: auditKeys,
      checkpointer,
      hmac: auditHmac,
      audit,
      retention,
    });

    const app = Fastify({
      logger: {
        level: settings.logLevel,
        // Belt and braces: no serializer logs these, and none ever should.
        redact: { paths: ["req.headers.authorization", "req.headers.cookie", "req.body", "res.body"], censor: "[redacted]" },
      },
      bodyLimit: settings.maxBodyBytes,
      genReqId: (req) => {
        const given = req.headers["x-request-id"];
        return typeof given === "string" && REQUEST_ID.test(given) ? given : nextRequestId();
      },
      requestIdHeader: false,
      ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: true } },
      routerOptions: { maxParamLength: 1200 },
      forceCloseConnections: "idle",
    }).withTypeProvider<TypeBoxTypeProvider>();

    // JSON only: a text body is a client mistake that deserves a 415, not a schema error.
    app.removeContentTypeParser("text/plain");
    // Set before anything can fail, so every response (errors included) carries it; sync: no extra tick.
    app.addHook("onRequest", (request, reply, done) => {
      reply.header("x-request-id", request.id);
      done();
    });
    appLog = app.log;
    app.addHook("onResponse", (request, reply, done) => {
      metrics.observeRequest(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime);
      done();
    });
    app.addHook("onClose", async () => {
      for (const stop of stops.reverse()) await stop().catch((e) => app.log.warn({ error: (e as Error).message }, "shutdown step failed"));
      await store.close();
    });

    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        info: {
          title: "Cairn",
          version: "1.0.0",
          description: "Configuration, secrets and API keys: a self-hosted security control plane.",
        },
        components: {
          securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "a Cairn API key: cairn_<prefix>_<secret>" } },
        },
        security: [{ bearer: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
    registerProblemHandler(app);
    registerOpsRoutes(app, store);
    await registerConsole(app, settings.consoleDir);
    await registerMetricsRoute(app, metrics, { metricsToken: settings.metricsToken, tracing: settings.otlpEndpoint !== undefined });

    // How a caller gets a session token: the only /api/v1 routes without a bearer token.
    await app.register(publicSessionRoutes(sessions), { prefix: "/api/v1" });
    await app.register(
      async (api) => {
        // Callback style: a cached key is decided in the same tick, with no promise in between.
        api.addHook("onRequest", (request, reply, done) => {
          const cached = authenticator.cachedContext(request);
          if (cached) {
            request.callContext = cached;
            return done();
          }
          authenticator.authenticate(request, reply).then((ctx) => {
            request.callContext = ctx;
            done();
          }, done);
        });
        await api.register(configRoutes(configs, authorizer, protectedEnvironments));
        await api.register(namespaceRoutes(namespaces, authorizer));
        await api.register(approvalPolicyRoutes(approvalPolicies, authorizer));
        await api.register(changeRequestRoutes(changeRequests));
        await api.register(secretRoutes(secrets));
        await api.register(policyRoutes(rotationPolicyService, authorizer));
        await api.register(keySchemaRoutes(keySchemas, authorizer));
        await api.register(environmentRoutes(environments, authorizer));
        await api.register(roleRoutes({ roles, groups, authorizer }));
        await api.register(keyRoutes(keys, authorizer));
        await api.register(userRoutes(users, authorizer));
        await api.register(sessionRoutes(sessions));
        await api.register(tenantRoutes(tenants));
        await api.register(tenantSettingsRoutes(tenantSettings, authorizer));
        await api.register(alertRoutes(alerts.service, authorizer));
        await api.register(watchRoutes(watch));
        await api.register(auditRoutes(auditService, authorizer));
        await api.register(auditRetentionRoutes(retention));
        await api.register(requestRoutes(requests.service, authorizer, { maxDurationSeconds: settings.accessMaxDurationSeconds }));
        await api.register(keyRotationRoutes(keyRotations));
      },
      { prefix: "/api/v1" },
    );
    await app.ready();
    return {
      app,
      store,
      bootstrap: boot,
      generatedMasterKeyFile: master.generatedMasterKeyFile,
      authorizer,
      bus,
      rateLimiter,
      authenticator,
      keys,
      sequencer,
      checkpointer,
      retention,
      alerts,
      metrics,
      watch,
      requests,
      keyRotations,
      secrets,
      rotation,
    };
  } catch (e) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await store.close().catch(() => {});
    throw e;
  }
}
