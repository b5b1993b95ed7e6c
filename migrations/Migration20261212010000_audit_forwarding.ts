import { Migration } from '@mikro-orm/migrations'

/**
 * Forwarding the audit log to syslog and webhooks (docs/audit.md#forwarding).
 *
 * The audit row is the outbox entry: it is committed in the change's own transaction, and each sink's cursor
 * (`audit_sinks.cursor_seq`, the last row the sink accepted) records the outcome. A forwarder sends the rows
 * above the cursor in sequence order and moves the cursor only after the sink has accepted them, so a sink
 * that is down delays rows, never loses them (at-least-once, in order).
 *
 * `audit_sinks` holds each sink's configuration (never a secret: the webhook HMAC key and a TLS client key
 * live in the OS keychain) and its delivery state. An admin adds, changes and removes sinks (grants on the
 * configuration columns only); the delivery state moves only through owner-defined functions, which an
 * operator may call (a forwarder needs to), and which move the cursor only forward, from the value the
 * caller read, while it holds the sink's lease, never beyond the chain head:
 *   - `audit_sink_claim(id, holder, seconds, take_from)`: take or renew the lease (one forwarder per sink);
 *   - `audit_sink_advance(id, holder, from, to, rows)`: the sink accepted rows from+1..to;
 *   - `audit_sink_failed(id, holder, error, next_retry_at)`: a failed attempt, and when to retry;
 *   - `audit_sink_release(id, holder)`: give the lease back.
 */

const requireRole = (role: 'operator' | 'admin', what: string): string => `
        if not (pg_has_role(session_user, 'netkeeper_${role}', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_${role} role', '${what}' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role ${role}';
        end if;`

const FUNCTIONS = [
  'audit_sink_claim(uuid, text, int, text)',
  'audit_sink_advance(uuid, text, bigint, bigint, int)',
  'audit_sink_failed(uuid, text, text, timestamptz)',
  'audit_sink_release(uuid, text)'
]

export class Migration20261212010000_audit_forwarding extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "audit_sinks" (
        "id" uuid primary key default gen_random_uuid(),
        "name" text not null unique check ("name" ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
        "kind" text not null check ("kind" in ('syslog', 'webhook')),
        "enabled" boolean not null default true,
        "config" jsonb not null,
        "cursor_seq" bigint not null default 0 check ("cursor_seq" >= 0),
        "sent_count" bigint not null default 0,
        "last_sent_at" timestamptz,
        "last_error" text,
        "last_error_at" timestamptz,
        "attempts" int not null default 0,
        "next_retry_at" timestamptz,
        "lease_holder" text,
        "lease_until" timestamptz,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now()
      );`)

    this.addSql(`
      create function "audit_sink_claim"(p_id uuid, p_holder text, p_seconds int, p_take_from text) returns text
      language plpgsql security definer as $$
      declare h text;
      begin
        ${requireRole('operator', 'forwarding the audit log')}
        update "audit_sinks" s set "lease_holder" = p_holder, "lease_until" = now() + make_interval(secs => greatest(1, least(p_seconds, 3600)))
         where s."id" = p_id
           and (s."lease_holder" is null or s."lease_holder" = p_holder or s."lease_until" < now() or (p_take_from is not null and s."lease_holder" = p_take_from));
        select s."lease_holder" into h from "audit_sinks" s where s."id" = p_id;
        return h;
      end $$;`)

    this.addSql(`
      create function "audit_sink_advance"(p_id uuid, p_holder text, p_from bigint, p_to bigint, p_rows int) returns boolean
      language plpgsql security definer as $$
      begin
        ${requireRole('operator', 'forwarding the audit log')}
        if p_to <= p_from then return false; end if;
        if p_to > (select h."last_seq" from "audit_chain_head" h where h."id" = 1) then
          raise exception 'audit_sink_advance: row % is beyond the chain head', p_to using errcode = '22023';
        end if;
        update "audit_sinks" s set "cursor_seq" = p_to, "sent_count" = s."sent_count" + greatest(p_rows, 0), "last_sent_at" = now(),
               "last_error" = null, "attempts" = 0, "next_retry_at" = null
         where s."id" = p_id and s."cursor_seq" = p_from and s."lease_holder" = p_holder;
        return found;
      end $$;`)

    this.addSql(`
      create function "audit_sink_failed"(p_id uuid, p_holder text, p_error text, p_next timestamptz) returns int
      language plpgsql security definer as $$
      declare n int;
      begin
        ${requireRole('operator', 'forwarding the audit log')}
        update "audit_sinks" s set "last_error" = left(p_error, 2000), "last_error_at" = now(), "attempts" = s."attempts" + 1, "next_retry_at" = p_next
         where s."id" = p_id and s."lease_holder" = p_holder
        returning s."attempts" into n;
        return n;
      end $$;`)

    this.addSql(`
      create function "audit_sink_release"(p_id uuid, p_holder text) returns void
      language plpgsql security definer as $$
      begin
        ${requireRole('operator', 'forwarding the audit log')}
        update "audit_sinks" s set "lease_holder" = null, "lease_until" = null where s."id" = p_id and s."lease_holder" = p_holder;
      end $$;`)

    // Owned by netkeeper_owner, pinned search_path, executable by the Netkeeper roles (the functions check operator).
    this.addSql(`
      do $$
      declare f text; s text := current_schema();
      begin
        execute 'alter table "audit_sinks" owner to netkeeper_owner';
        foreach f in array array[${FUNCTIONS.map((f) => `'${f}'`).join(', ')}] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`)
    this.addSql(`grant select on "audit_sinks" to netkeeper_viewer;`)
    // The configuration is an admin's; the delivery state moves only through the functions above.
    this.addSql(`grant insert ("id", "name", "kind", "enabled", "config", "cursor_seq"), delete on "audit_sinks" to netkeeper_admin;`)
    this.addSql(`grant update ("name", "enabled", "config", "updated_at") on "audit_sinks" to netkeeper_admin;`)
  }

  override async down(): Promise<void> {
    for (const f of FUNCTIONS) this.addSql(`drop function if exists ${f};`)
    this.addSql(`drop table if exists "audit_sinks";`)
  }
}
