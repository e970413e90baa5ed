import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyInstance } from "fastify";
import { createAuditLog } from "./audit/log.js";
import { createAuthenticator } from "./auth/authenticate.js";
import { createApiKeyRepository } from "./auth/repository.js";
import { type BootstrapResult, bootstrap } from "./bootstrap.js";
import { loadMasterKey, localKekProvider } from "./crypto/kek.js";
import { createKeyring } from "./crypto/keyring.js";
import { migrate, openStore, type Store } from "./db/database.js";
import { createConfigRepository } from "./domains/configs/repository.js";
import { configRoutes } from "./domains/configs/routes.js";
import { createConfigService } from "./domains/configs/service.js";
import { createEnvironmentRepository } from "./domains/environments/repository.js";
import { environmentRoutes } from "./domains/environments/routes.js";
import { createEnvironmentService } from "./domains/environments/service.js";
import { createKeySchemaRepository } from "./domains/key-schemas/repository.js";
import { keySchemaRoutes } from "./domains/key-schemas/routes.js";
import { createKeySchemaService } from "./domains/key-schemas/service.js";
import { createNamespaceRepository } from "./domains/namespaces/repository.js";
import { createNamespaceService } from "./domains/namespaces/service.js";
import { registerOpsRoutes } from "./http/ops.js";
import { registerProblemHandler } from "./http/problem.js";
import { newId } from "./ids.js";
import type { Settings } from "./settings.js";

export interface CairnApp {
  app: FastifyInstance;
  store: Store;
  bootstrap: BootstrapResult;
  /** Set when this start generated `<data-dir>/master.key`. */
  generatedMasterKeyFile?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the whole server: settings → master key → store (migrated) → first-start bootstrap →
 * services → Fastify with its plugins in order: docs, error handling, ops routes, authenticated API.
 */
export async function buildApp(settings: Settings): Promise<CairnApp> {
  const master = await loadMasterKey(settings);
  const store = await openStore(settings);
  try {
    await migrate(store.db);
    const db = store.db;
    const audit = createAuditLog();
    const apiKeys = createApiKeyRepository(db);
    const boot = await bootstrap({ db, keys: apiKeys, audit, adminKey: settings.bootstrapAdminKey });

    const keyring = createKeyring({ db, kek: localKekProvider(master.key) });
    const namespaces = createNamespaceService({ db, repo: createNamespaceRepository(), keyring });
    const environments = createEnvironmentService({ db, repo: createEnvironmentRepository(db), audit });
    const keySchemas = createKeySchemaService({ db, repo: createKeySchemaRepository(db), namespaces, audit });
    const configs = createConfigService({
      db,
      repo: createConfigRepository(db),
      namespaces,
      environments,
      keySchemas,
      keyring,
      audit,
      maxValueBytes: settings.maxValueBytes,
    });
    const authenticator = createAuthenticator({ db, repo: apiKeys, audit, cacheSeconds: settings.keyCacheSeconds });

    const app = Fastify({
      logger: {
        level: settings.logLevel,
        // Belt and braces: no serializer logs these, and none ever should.
        redact: { paths: ["req.headers.authorization", "req.headers.cookie", "req.body", "res.body"], censor: "[redacted]" },
      },
      bodyLimit: settings.maxBodyBytes,
      genReqId: (req) => {
        const given = req.headers["x-request-id"];
        return typeof given === "string" && REQUEST_ID.test(given) ? given : newId("request");
      },
      requestIdHeader: false,
      ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: true } },
      routerOptions: { maxParamLength: 1200 },
      forceCloseConnections: "idle",
    }).withTypeProvider<TypeBoxTypeProvider>();

    // JSON only: a text body is a client mistake that deserves a 415, not a schema error.
    app.removeContentTypeParser("text/plain");
    app.addHook("onSend", async (request, reply) => {
      reply.header("x-request-id", request.id);
    });
    app.addHook("onClose", async () => store.close());

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

    await app.register(
      async (api) => {
        api.addHook("onRequest", async (request) => {
          request.callContext = await authenticator.authenticate(request);
        });
        await api.register(configRoutes(configs));
        await api.register(keySchemaRoutes(keySchemas));
        await api.register(environmentRoutes(environments));
      },
      { prefix: "/api/v1" },
    );
    await app.ready();
    return { app, store, bootstrap: boot, generatedMasterKeyFile: master.generatedAt };
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
}
