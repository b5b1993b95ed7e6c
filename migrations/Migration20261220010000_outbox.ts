import { Migration } from '@mikro-orm/migrations'

/**
 * The transactional outbox (docs/architecture.md#the-outbox, src/main/core/outbox): side effects outside the
 * database (a DNS update, a DHCP reservation, later a syslog line or a webhook) are written as rows here in
 * the same transaction as the change that causes them, then applied by a worker that records the outcome.
 *
 * - `kind` picks the handler, `target` is the ordering key (the rows of one target apply one at a time, in
 *   id order: a DNS server, a Kea database), `subject` names what the row is about (`ip_allocation:42`), so
 *   a resource can show its pending or refused side effects.
 * - A worker claims rows with FOR UPDATE SKIP LOCKED and a lease (`claimed_until`), applies them outside any
 *   transaction (a network call must not hold a transaction open: PGlite has one connection), then records
 *   the outcome with its audit row in one transaction.
 * - States: pending (waiting or retrying: attempts, next_attempt_at, last_error), done, conflict (the target
 *   holds something Netkeeper did not write; a person decides), failed (refused for good), ignored.
 *
 * Rows are written by SECURITY DEFINER code only (triggers of the domains, outbox_enqueue): a client cannot
 * forge a side effect; operators may update the state (the worker runs in their app), viewers read.
 */
export class Migration20261220010000_outbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "outbox" (
        "id" bigserial primary key,
        "kind" text not null,
        "target" text not null,
        "subject" text null,
        "payload" jsonb not null,
        "request_id" text null,
        "actor" text null,
        "source" text null,
        "state" text not null default 'pending',
        "attempts" int not null default 0,
        "next_attempt_at" timestamptz not null default now(),
        "claimed_until" timestamptz null,
        "claimed_by" text null,
        "last_error" text null,
        "outcome" jsonb null,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "done_at" timestamptz null,
        constraint "outbox_state_check" check ("state" in ('pending', 'done', 'conflict', 'failed', 'ignored')),
        constraint "outbox_kind_not_blank" check (length(btrim("kind")) > 0)
      );`)
    this.addSql(`create index "outbox_pending_idx" on "outbox" ("target", "id") where "state" = 'pending';`)
    this.addSql(`create index "outbox_due_idx" on "outbox" ("next_attempt_at", "id") where "state" = 'pending';`)
    this.addSql(`create index "outbox_subject_idx" on "outbox" ("subject", "id");`)

    this.addSql(`
      create function "outbox_enqueue"(p_kind text, p_target text, p_subject text, p_payload jsonb, p_request_id text, p_actor text, p_source text)
      returns bigint language plpgsql security definer as $$
      declare new_id bigint;
      begin
        if not (pg_has_role(session_user, 'netkeeper_operator', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: queueing a side effect needs the netkeeper_operator role' using errcode = '42501';
        end if;
        insert into "outbox" ("kind", "target", "subject", "payload", "request_id", "actor", "source")
        values (p_kind, p_target, p_subject, p_payload, p_request_id, p_actor, p_source) returning "id" into new_id;
        perform pg_notify('netkeeper_outbox', p_kind);
        return new_id;
      end $$;`)

    this.addSql(`
      do $$
      declare s text := current_schema();
      begin
        alter table "outbox" owner to netkeeper_owner;
        alter sequence "outbox_id_seq" owner to netkeeper_owner;
        alter function "outbox_enqueue"(text, text, text, jsonb, text, text, text) owner to netkeeper_owner;
        execute format('alter function "outbox_enqueue"(text, text, text, jsonb, text, text, text) set search_path = %I, pg_catalog, pg_temp', s);
        revoke all on function "outbox_enqueue"(text, text, text, jsonb, text, text, text) from public;
        grant execute on function "outbox_enqueue"(text, text, text, jsonb, text, text, text) to netkeeper_viewer;
        grant select on "outbox" to netkeeper_viewer;
        grant update ("state", "attempts", "next_attempt_at", "claimed_until", "claimed_by", "last_error", "outcome", "updated_at", "done_at") on "outbox" to netkeeper_operator;
      end $$;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "outbox_enqueue"(text, text, text, jsonb, text, text, text);`)
    this.addSql(`drop table if exists "outbox";`)
  }
}
