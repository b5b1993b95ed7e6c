import { Migration } from '@mikro-orm/migrations'

/**
 * Bulk writes of allocations (issue 16, the CSV import of 200,000 rows) without a PL/pgSQL call per row
 * where the call can do nothing. Measured with EXPLAIN ANALYZE on 20,000 inserted rows: the row triggers
 * ip_allocations_custom_fields, ip_allocations_dns_outbox and ip_allocations_dhcp_outbox took ~80 % of the
 * INSERT's time, for rows without custom field values, DNS or DHCP management. Same rules, fewer calls:
 *
 * - The outbox triggers are split per event with WHEN clauses: a row that is not DNS-managed (DHCP-managed),
 *   before or after, queues nothing: exactly the rows the functions already returned null for without
 *   writing (their loops only visit managed rows). A deferred constraint trigger's WHEN is evaluated when
 *   the row changes, so such rows no longer wait in the trigger queue until commit either.
 * - The custom fields check runs per row only on rows that carry values (or on an update that changes them),
 *   as before. Rows inserted without values ('{}') are checked once per statement by
 *   ip_allocations_custom_fields_required (a transition table): when a required field exists, such rows
 *   are refused (a required field without default) or get the defaults, through the same
 *   ipam_check_custom_fields, as the row trigger gave them. With no required field defined, it is one query.
 *
 * The functions keep their owner (netkeeper_owner), their pinned search_path and grants; the new one gets
 * the same treatment.
 */
const FN = 'ip_allocations_custom_fields_required()'

export class Migration20270105100000_allocation_trigger_speed extends Migration {
  override async up(): Promise<void> {
    for (const [name, fn, col] of [
      ['ip_allocations_dns_outbox', 'ip_allocations_dns_outbox', 'dns_managed'],
      ['ip_allocations_dhcp_outbox', 'ip_allocations_dhcp_outbox', 'dhcp_managed']
    ] as const) {
      this.addSql(`drop trigger "${name}" on "ip_allocations";`)
      this.addSql(`create constraint trigger "${name}_ins" after insert on "ip_allocations" deferrable initially deferred
                     for each row when (new."${col}") execute function "${fn}"();`)
      this.addSql(`create constraint trigger "${name}_upd" after update on "ip_allocations" deferrable initially deferred
                     for each row when (old."${col}" or new."${col}") execute function "${fn}"();`)
      this.addSql(`create constraint trigger "${name}_del" after delete on "ip_allocations" deferrable initially deferred
                     for each row when (old."${col}") execute function "${fn}"();`)
    }

    this.addSql(`drop trigger "ip_allocations_custom_fields" on "ip_allocations";`)
    this.addSql(`create trigger "ip_allocations_custom_fields_ins" before insert on "ip_allocations"
                   for each row when (new."custom_fields" is distinct from '{}'::jsonb) execute function "ip_allocations_custom_fields"();`)
    this.addSql(`create trigger "ip_allocations_custom_fields" before update of "custom_fields" on "ip_allocations"
                   for each row execute function "ip_allocations_custom_fields"();`)
    this.addSql(`
      create function "ip_allocations_custom_fields_required"() returns trigger language plpgsql security definer as $$
      begin
        if not exists (select 1 from "ip_custom_fields" where "kind" = 'allocation' and "required") then
          return null;
        end if;
        if not exists (select 1 from "new_rows" where "custom_fields" = '{}'::jsonb) then
          return null;
        end if;
        -- Raises for a required field without a default (as the row trigger did); else the defaults.
        perform "ipam_check_custom_fields"('allocation', '{}'::jsonb);
        update "ip_allocations" a set "custom_fields" = "ipam_check_custom_fields"('allocation', '{}'::jsonb)
          from "new_rows" n where a."id" = n."id" and n."custom_fields" = '{}'::jsonb and a."custom_fields" = '{}'::jsonb;
        return null;
      end $$;`)
    this.addSql(`create trigger "ip_allocations_custom_fields_required" after insert on "ip_allocations" referencing new table as "new_rows"
                   for each statement execute function "ip_allocations_custom_fields_required"();`)
    this.addSql(`
      do $$
      declare s text := current_schema();
      begin
        alter function ${FN} owner to netkeeper_owner;
        execute format('alter function ${FN} set search_path = %I, pg_catalog, pg_temp', s);
        revoke all on function ${FN} from public;
        grant execute on function ${FN} to netkeeper_viewer;
      end $$;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "ip_allocations_custom_fields_required" on "ip_allocations";`)
    this.addSql(`drop function if exists ${FN};`)
    this.addSql(`drop trigger if exists "ip_allocations_custom_fields_ins" on "ip_allocations";`)
    this.addSql(`drop trigger if exists "ip_allocations_custom_fields" on "ip_allocations";`)
    this.addSql(`create trigger "ip_allocations_custom_fields" before insert or update of "custom_fields" on "ip_allocations"
                   for each row execute function "ip_allocations_custom_fields"();`)
    for (const [name, fn] of [
      ['ip_allocations_dns_outbox', 'ip_allocations_dns_outbox'],
      ['ip_allocations_dhcp_outbox', 'ip_allocations_dhcp_outbox']
    ] as const) {
      for (const e of ['ins', 'upd', 'del']) this.addSql(`drop trigger if exists "${name}_${e}" on "ip_allocations";`)
      this.addSql(`create constraint trigger "${name}" after insert or update or delete on "ip_allocations"
                     deferrable initially deferred for each row execute function "${fn}"();`)
    }
  }
}
