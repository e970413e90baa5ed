import { type Selectable, sql } from "kysely";
import type { Conn, Db } from "../../db/database.js";
import type { SecretRotationPoliciesTable } from "../../db/types.js";
import { newId } from "../../ids.js";

export type PolicyRow = Selectable<SecretRotationPoliciesTable>;

export interface SecretAddress {
  namespace: string;
  key: string;
  environment: string;
}

export interface PolicyFields {
  intervalSeconds: number;
  gracePeriodSeconds: number;
  autoRotate: boolean;
  notify: boolean | string[];
  strategy: PolicyRow["strategy"];
  adminSecret: string | null;
  /** Explicit next rotation; undefined = (last rotation or now) + interval. Ignored when autoRotate is false. */
  nextRotationAt?: Date;
}

const now = () => sql<Date>`now()`;

/** Rotation policies: the API's rows and the scheduler's durable queue (claims, fenced by `claim_id`). */
export function createPolicyRepository(db: Db) {
  return {
    async find(conn: Conn, tenantId: string, a: SecretAddress): Promise<PolicyRow | undefined> {
      return conn
        .selectFrom("secret_rotation_policies")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("namespace", "=", a.namespace)
        .where("key", "=", a.key)
        .where("environment", "=", a.environment)
        .executeTakeFirst();
    },

    async upsert(
      conn: Conn,
      tenantId: string,
      a: SecretAddress,
      f: PolicyFields,
      actorId: string,
    ): Promise<{ row: PolicyRow; created: boolean }> {
      const next = f.autoRotate
        ? f.nextRotationAt
          ? sql<Date>`${f.nextRotationAt.toISOString()}::timestamptz`
          : sql<Date>`coalesce(secret_rotation_policies.last_rotated_at, now()) + make_interval(secs => ${f.intervalSeconds})`
        : sql<Date>`null`;
      const fields = {
        interval_seconds: f.intervalSeconds,
        grace_period_seconds: f.gracePeriodSeconds,
        auto_rotate: f.autoRotate,
        notify: JSON.stringify(f.notify),
        strategy: f.strategy,
        admin_secret: f.adminSecret,
        updated_by: actorId,
      };
      const row = await conn
        .insertInto("secret_rotation_policies")
        .values({
          id: newId("rotationPolicy"),
          tenant_id: tenantId,
          namespace: a.namespace,
          key: a.key,
          environment: a.environment,
          ...fields,
          // On insert there is no last rotation yet: `secret_rotation_policies.last_rotated_at` is not in scope.
          next_rotation_at: f.autoRotate
            ? f.nextRotationAt
              ? f.nextRotationAt
              : sql<Date>`now() + make_interval(secs => ${f.intervalSeconds})`
            : null,
          created_by: actorId,
        })
        .onConflict((oc) =>
          oc.columns(["tenant_id", "namespace", "key", "environment"]).doUpdateSet({
            ...fields,
            next_rotation_at: next,
            // A changed policy starts a fresh series of attempts.
            attempts: 0,
            last_error: null,
            updated_at: now(),
          }),
        )
        .returning(sql<boolean>`(xmax = 0)`.as("inserted"))
        .returningAll()
        .executeTakeFirstOrThrow();
      const { inserted, ...rest } = row as PolicyRow & { inserted: boolean };
      return { row: rest, created: inserted };
    },

    async remove(conn: Conn, tenantId: string, a: SecretAddress): Promise<PolicyRow | undefined> {
      return conn
        .deleteFrom("secret_rotation_policies")
        .where("tenant_id", "=", tenantId)
        .where("namespace", "=", a.namespace)
        .where("key", "=", a.key)
        .where("environment", "=", a.environment)
        .returningAll()
        .executeTakeFirst();
    },

    /**
     * Claims up to `limit` due policies for this worker: FOR UPDATE SKIP LOCKED (two replicas never get the
     * same row), a lease until `now + leaseSeconds` (a crashed worker's claim lapses) and a fresh claim id
     * that the commit must still find. The attempt is counted here.
     */
    async claimDue(limit: number, leaseSeconds: number): Promise<PolicyRow[]> {
      const claimId = newId("rotationClaim");
      const result = await sql<PolicyRow>`
        update secret_rotation_policies p
        set locked_until = now() + make_interval(secs => ${leaseSeconds}), claim_id = ${claimId},
            attempts = p.attempts + 1, last_attempt_at = now(), updated_at = now()
        where p.id in (
          select id from secret_rotation_policies
          where auto_rotate and next_rotation_at <= now() and (locked_until is null or locked_until < now())
          order by next_rotation_at, id
          limit ${limit}
          for update skip locked)
        returning p.*`.execute(db);
      return result.rows;
    },

    /** Locks a claimed row for its commit; undefined when the claim lapsed, was taken over, or the policy changed/vanished. */
    async lockClaim(trx: Conn, id: string, claimId: string): Promise<PolicyRow | undefined> {
      return trx
        .selectFrom("secret_rotation_policies")
        .selectAll()
        .where("id", "=", id)
        .where("claim_id", "=", claimId)
        .where("locked_until", ">", now())
        .forUpdate()
        .executeTakeFirst();
    },

    async succeeded(trx: Conn, id: string, version: number | null): Promise<PolicyRow> {
      return trx
        .updateTable("secret_rotation_policies")
        .set({
          next_rotation_at: sql<Date>`now() + make_interval(secs => interval_seconds)`,
          attempts: 0,
          last_error: null,
          last_rotated_at: now(),
          last_rotated_version: version,
          locked_until: null,
          claim_id: null,
          updated_at: now(),
        })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirstOrThrow();
    },

    async failed(trx: Conn, id: string, claimId: string, error: string, retryInSeconds: number): Promise<PolicyRow | undefined> {
      return trx
        .updateTable("secret_rotation_policies")
        .set({
          next_rotation_at: sql<Date>`now() + make_interval(secs => ${retryInSeconds})`,
          last_error: error,
          locked_until: null,
          claim_id: null,
          updated_at: now(),
        })
        .where("id", "=", id)
        .where("claim_id", "=", claimId)
        .returningAll()
        .executeTakeFirst();
    },
  };
}

export type PolicyRepository = ReturnType<typeof createPolicyRepository>;
