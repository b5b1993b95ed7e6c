import { Migration } from '@mikro-orm/migrations'

/**
 * Pool names are unique per address space, not across spaces (issue 16).
 *
 * Spaces exist so two customers can both have 10.0.0.0/24; they name their pools alike too ("LAN", "mgmt"), and
 * refusing customer B's "LAN" because customer A has one made spaces half a separation. So the unique key is
 * (space_id, name). A name given without a space that more than one space holds is refused as ambiguous by the
 * service (naming the spaces and ids), as an address held in two spaces is; ids stay unique.
 *
 * Down puts the global key back and refuses (naming one) while a name is held in two spaces.
 */
export class Migration20270106110000_ipam_pool_names_per_space extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_name_key";`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_space_name_key" unique ("space_id", "name");`)
    // Look-ups by name alone (the CLI, the palette) stay one index probe.
    this.addSql(`create index "ip_pools_name_idx" on "ip_pools" ("name");`)
  }

  override async down(): Promise<void> {
    this.addSql(`
      do $$
      declare d record;
      begin
        select "name", count(*) as n into d from "ip_pools" group by "name" having count(*) > 1 limit 1;
        if found then
          raise exception 'pool name "%" is used in % address spaces; rename all but one before rolling back', d."name", d.n using errcode = '23505';
        end if;
      end $$;`)
    this.addSql(`drop index if exists "ip_pools_name_idx";`)
    this.addSql(`alter table "ip_pools" drop constraint if exists "ip_pools_space_name_key";`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_name_key" unique ("name");`)
  }
}
