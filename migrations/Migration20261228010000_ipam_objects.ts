import { Migration } from '@mikro-orm/migrations'

/**
 * IPAM objects (issue 16, items 5 and 6): sites, VLAN groups and VLANs as objects pools point at; tags on pools
 * and allocations; admin-defined custom fields validated by the server (docs/ipam.md#vlans-and-sites,
 * docs/ipam.md#tags-and-custom-fields).
 *
 * 1. ip_sites (name unique), ip_vlan_groups (name unique) and ip_vlans (VID 1-4094 unique within a group: a
 *    check and a unique key, so a direct insert is refused as well as the service's). ip_pools gains
 *    site_ref_id and vlan_ref_id (nullable, ON DELETE RESTRICT: a site or VLAN in use cannot go).
 * 2. The old columns ip_pools.site (text) and ip_pools.vlan_id (VID) stay, as values derived from the objects,
 *    so every reader (offline snapshot, legacy import, palette, stats, exports) keeps working unchanged. The
 *    BEFORE trigger ip_pools_objects keeps them in step both ways: a writer that sets the reference gets the
 *    text/VID filled in; an older writer that sets only the text or the VID (the legacy importer) gets the
 *    site found or created by name, and the VLAN found or created in the "default" VLAN group. Renaming a
 *    site or changing a VLAN's VID rewrites the derived columns of its pools (ip_sites_rename, ip_vlans_vid).
 * 3. The upgrade turns every distinct site text into a site and every distinct VID into a VLAN of the
 *    "default" group ("VLAN <vid>"), and points the pools at them; nothing is lost because the text/VID
 *    columns are untouched. Rollback drops the objects; the text/VID columns hold what they showed.
 * 4. ip_tags (name unique, colour #rrggbb) with ip_pool_tags and ip_allocation_tags (many-to-many; removing a
 *    tag, a pool or an allocation removes its links).
 * 5. ip_custom_fields: kind pool|allocation, name, type text|integer|boolean|choice|date|url, choices,
 *    required, a default. Values live in ip_pools.custom_fields / ip_allocations.custom_fields (jsonb, GIN
 *    indexed) and are checked by the BEFORE triggers ip_pools_custom_fields / ip_allocations_custom_fields
 *    through ipam_check_custom_fields(kind, jsonb): an unknown field, a value of the wrong type, a choice
 *    not in the list, an impossible date, a URL that is not http(s) or a missing required field (with no
 *    default) raises SQLSTATE 23514, constraint ip_custom_fields_valid, with a message naming the field and
 *    the reason. Definitions: ip_custom_fields_guard refuses deleting a field while rows hold values
 *    (the service strips them first when asked to, in the same transaction).
 */

const FUNCTIONS = [
  'ip_pools_objects()',
  'ip_sites_rename()',
  'ip_vlans_vid()',
  'ipam_check_custom_fields(text, jsonb)',
  'ip_pools_custom_fields()',
  'ip_allocations_custom_fields()',
  'ip_custom_fields_guard()'
]

const own = (fns: string[]): string => `
      do $$
      declare f text; s text := current_schema();
      begin
        foreach f in array array[${fns.map((f) => `'${f}'`).join(', ')}] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`

export class Migration20261228010000_ipam_objects extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "ip_sites" (
        "id" serial primary key,
        "name" varchar(100) not null,
        "description" text null,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_sites_name_key" unique ("name"),
        constraint "ip_sites_name_check" check (btrim("name") <> '')
      );`)
    this.addSql(`
      create table "ip_vlan_groups" (
        "id" serial primary key,
        "name" varchar(100) not null,
        "description" text null,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_vlan_groups_name_key" unique ("name"),
        constraint "ip_vlan_groups_name_check" check (btrim("name") <> '')
      );`)
    this.addSql(`
      create table "ip_vlans" (
        "id" serial primary key,
        "group_id" int not null references "ip_vlan_groups" ("id") on delete restrict,
        "vid" int not null,
        "name" varchar(100) not null,
        "status" varchar(16) not null default 'active',
        "description" text null,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_vlans_vid_check" check ("vid" between 1 and 4094),
        constraint "ip_vlans_group_vid_key" unique ("group_id", "vid"),
        constraint "ip_vlans_status_check" check ("status" in ('active', 'reserved', 'deprecated'))
      );`)
    this.addSql(`
      alter table "ip_pools"
        add column "site_ref_id" int null references "ip_sites" ("id") on delete restrict,
        add column "vlan_ref_id" int null references "ip_vlans" ("id") on delete restrict;`)
    this.addSql(`create index "ip_pools_site_ref_idx" on "ip_pools" ("site_ref_id") where "site_ref_id" is not null;`)
    this.addSql(`create index "ip_pools_vlan_ref_idx" on "ip_pools" ("vlan_ref_id") where "vlan_ref_id" is not null;`)

    // The upgrade: one site per distinct text, one VLAN per distinct VID in the "default" group.
    this.addSql(`insert into "ip_sites" ("name", "created_by") select distinct "site", 'migration' from "ip_pools" where "site" is not null and btrim("site") <> '';`)
    this.addSql(`insert into "ip_vlan_groups" ("name", "description", "created_by") values ('default', 'VLANs of pools created before VLANs were objects, and of legacy imports', 'migration');`)
    this.addSql(`
      insert into "ip_vlans" ("group_id", "vid", "name", "created_by")
      select g."id", v."vid", 'VLAN ' || v."vid", 'migration'
        from (select distinct "vlan_id" as "vid" from "ip_pools" where "vlan_id" is not null) v, "ip_vlan_groups" g
       where g."name" = 'default';`)
    this.addSql(`update "ip_pools" p set "site_ref_id" = s."id" from "ip_sites" s where s."name" = p."site";`)
    this.addSql(`
      update "ip_pools" p set "vlan_ref_id" = v."id"
        from "ip_vlans" v join "ip_vlan_groups" g on g."id" = v."group_id" and g."name" = 'default'
       where v."vid" = p."vlan_id";`)

    // The derived columns, kept in step with the references (see 2. above). SECURITY DEFINER so an older
    // writer's text finds or creates its site whatever the writer may do to ip_sites.
    this.addSql(`
      create or replace function "ip_pools_objects"() returns trigger language plpgsql security definer as $$
      declare ref_changed boolean; text_changed boolean; grp int;
      begin
        ref_changed := tg_op = 'INSERT' or new."site_ref_id" is distinct from old."site_ref_id";
        text_changed := tg_op = 'INSERT' or new."site" is distinct from old."site";
        if new."site_ref_id" is not null and ref_changed then
          select "name" into new."site" from "ip_sites" where "id" = new."site_ref_id";
        elsif text_changed and not (tg_op = 'UPDATE' and ref_changed)
              and not exists (select 1 from "ip_sites" where "id" = new."site_ref_id" and "name" = new."site") then
          if new."site" is null or btrim(new."site") = '' then
            new."site" := null; new."site_ref_id" := null;
          else
            insert into "ip_sites" ("name", "created_by") values (new."site", coalesce(new."created_by", current_user)) on conflict ("name") do nothing;
            select "id" into new."site_ref_id" from "ip_sites" where "name" = new."site";
          end if;
        elsif new."site_ref_id" is null and ref_changed then
          new."site" := null;
        end if;

        ref_changed := tg_op = 'INSERT' or new."vlan_ref_id" is distinct from old."vlan_ref_id";
        text_changed := tg_op = 'INSERT' or new."vlan_id" is distinct from old."vlan_id";
        if new."vlan_ref_id" is not null and ref_changed then
          select "vid" into new."vlan_id" from "ip_vlans" where "id" = new."vlan_ref_id";
        elsif text_changed and not (tg_op = 'UPDATE' and ref_changed)
              and not exists (select 1 from "ip_vlans" where "id" = new."vlan_ref_id" and "vid" = new."vlan_id") then
          if new."vlan_id" is null then
            new."vlan_ref_id" := null;
          else
            -- A bare VID: the VLAN of that VID in the pool's current VLAN group, else in the "default" group.
            select "group_id" into grp from "ip_vlans" where "id" = new."vlan_ref_id";
            if grp is null or not exists (select 1 from "ip_vlans" where "group_id" = grp and "vid" = new."vlan_id") then
              insert into "ip_vlan_groups" ("name", "created_by") values ('default', current_user) on conflict ("name") do nothing;
              select "id" into grp from "ip_vlan_groups" where "name" = 'default';
              insert into "ip_vlans" ("group_id", "vid", "name", "created_by") values (grp, new."vlan_id", 'VLAN ' || new."vlan_id", current_user)
                on conflict ("group_id", "vid") do nothing;
            end if;
            select "id" into new."vlan_ref_id" from "ip_vlans" where "group_id" = grp and "vid" = new."vlan_id";
          end if;
        elsif new."vlan_ref_id" is null and ref_changed then
          new."vlan_id" := null;
        end if;
        return new;
      end $$;`)
    this.addSql(`
      create trigger "ip_pools_objects" before insert or update of "site", "site_ref_id", "vlan_id", "vlan_ref_id" on "ip_pools"
        for each row execute function "ip_pools_objects"();`)
    this.addSql(`
      create or replace function "ip_sites_rename"() returns trigger language plpgsql security definer as $$
      begin
        update "ip_pools" set "site" = new."name" where "site_ref_id" = new."id";
        return null;
      end $$;`)
    this.addSql(`create trigger "ip_sites_rename" after update of "name" on "ip_sites" for each row when (new."name" is distinct from old."name") execute function "ip_sites_rename"();`)
    this.addSql(`
      create or replace function "ip_vlans_vid"() returns trigger language plpgsql security definer as $$
      begin
        update "ip_pools" set "vlan_id" = new."vid" where "vlan_ref_id" = new."id";
        return null;
      end $$;`)
    this.addSql(`create trigger "ip_vlans_vid" after update of "vid" on "ip_vlans" for each row when (new."vid" is distinct from old."vid") execute function "ip_vlans_vid"();`)

    // Tags.
    this.addSql(`
      create table "ip_tags" (
        "id" serial primary key,
        "name" varchar(64) not null,
        "colour" varchar(7) not null default '#6b7280',
        "description" text null,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_tags_name_key" unique ("name"),
        constraint "ip_tags_name_check" check ("name" ~ '^[^\\s,]{1,64}$'),
        constraint "ip_tags_colour_check" check ("colour" ~ '^#[0-9a-f]{6}$')
      );`)
    this.addSql(`
      create table "ip_pool_tags" (
        "pool_id" int not null references "ip_pools" ("id") on delete cascade,
        "tag_id" int not null references "ip_tags" ("id") on delete cascade,
        primary key ("pool_id", "tag_id")
      );`)
    this.addSql(`create index "ip_pool_tags_tag_idx" on "ip_pool_tags" ("tag_id", "pool_id");`)
    this.addSql(`
      create table "ip_allocation_tags" (
        "allocation_id" int not null references "ip_allocations" ("id") on delete cascade,
        "tag_id" int not null references "ip_tags" ("id") on delete cascade,
        primary key ("allocation_id", "tag_id")
      );`)
    this.addSql(`create index "ip_allocation_tags_tag_idx" on "ip_allocation_tags" ("tag_id", "allocation_id");`)

    // Custom fields.
    this.addSql(`
      create table "ip_custom_fields" (
        "id" serial primary key,
        "kind" varchar(16) not null,
        "name" varchar(64) not null,
        "label" varchar(100) null,
        "type" varchar(16) not null,
        "choices" text[] null,
        "required" boolean not null default false,
        "default_value" jsonb null,
        "description" text null,
        "created_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_custom_fields_kind_name_key" unique ("kind", "name"),
        constraint "ip_custom_fields_kind_check" check ("kind" in ('pool', 'allocation')),
        constraint "ip_custom_fields_name_check" check ("name" ~ '^[a-z][a-z0-9_]{0,63}$'),
        constraint "ip_custom_fields_type_check" check ("type" in ('text', 'integer', 'boolean', 'choice', 'date', 'url')),
        constraint "ip_custom_fields_choices_check" check (("type" = 'choice') = ("choices" is not null and cardinality("choices") > 0))
      );`)
    this.addSql(`alter table "ip_pools" add column "custom_fields" jsonb not null default '{}'::jsonb;`)
    this.addSql(`alter table "ip_allocations" add column "custom_fields" jsonb not null default '{}'::jsonb;`)
    this.addSql(`create index "ip_pools_custom_fields_idx" on "ip_pools" using gin ("custom_fields" jsonb_path_ops);`)
    this.addSql(`create index "ip_allocations_custom_fields_idx" on "ip_allocations" using gin ("custom_fields" jsonb_path_ops);`)
    this.addSql(`
      create or replace function "ipam_check_custom_fields"(p_kind text, p_values jsonb) returns jsonb language plpgsql stable as $$
      declare k text; v jsonb; f record; out jsonb := '{}'::jsonb; s text; ok boolean;
      begin
        if p_values is null then p_values := '{}'::jsonb; end if;
        if jsonb_typeof(p_values) <> 'object' then
          raise exception 'custom_fields: must be an object of field name to value' using errcode = '23514', constraint = 'ip_custom_fields_valid';
        end if;
        for k, v in select * from jsonb_each(p_values) loop
          continue when v = 'null'::jsonb;
          select * into f from "ip_custom_fields" where "kind" = p_kind and "name" = k;
          if not found then
            raise exception 'custom field %: no such % field', k, p_kind using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          if f."type" in ('text', 'choice', 'date', 'url') and jsonb_typeof(v) <> 'string' then
            raise exception 'custom field %: must be text, got %', k, jsonb_typeof(v) using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          if f."type" = 'integer' and (jsonb_typeof(v) <> 'number' or (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
                                       or abs((v #>> '{}')::numeric) > 9007199254740991) then
            raise exception 'custom field %: must be a whole number, got %', k, v using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          if f."type" = 'boolean' and jsonb_typeof(v) <> 'boolean' then
            raise exception 'custom field %: must be true or false, got %', k, v using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          s := v #>> '{}';
          if f."type" = 'text' and length(s) > 1000 then
            raise exception 'custom field %: longer than 1000 characters', k using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          if f."type" = 'choice' and not (s = any(f."choices")) then
            raise exception 'custom field %: "%" is not one of %', k, s, array_to_string(f."choices", ', ') using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          if f."type" = 'date' then
            ok := s ~ '^\\d{4}-\\d{2}-\\d{2}$';
            if ok then
              begin
                ok := to_char(to_date(s, 'YYYY-MM-DD'), 'YYYY-MM-DD') = s;
              exception when others then
                ok := false;
              end;
            end if;
            if not ok then
              raise exception 'custom field %: "%" is not a date (YYYY-MM-DD)', k, s using errcode = '23514', constraint = 'ip_custom_fields_valid';
            end if;
          end if;
          if f."type" = 'url' and s !~* '^https?://[^\\s/?#]+[^\\s]*$' then
            raise exception 'custom field %: "%" is not an http(s) URL', k, s using errcode = '23514', constraint = 'ip_custom_fields_valid';
          end if;
          out := out || jsonb_build_object(k, v);
        end loop;
        -- Required fields: a missing one takes its default, or is refused.
        for f in select * from "ip_custom_fields" where "kind" = p_kind and "required" loop
          if not (out ? f."name") then
            if f."default_value" is null then
              raise exception 'custom field %: required', f."name" using errcode = '23514', constraint = 'ip_custom_fields_valid';
            end if;
            out := out || jsonb_build_object(f."name", f."default_value");
          end if;
        end loop;
        return out;
      end $$;`)
    for (const [table, kind] of [
      ['ip_pools', 'pool'],
      ['ip_allocations', 'allocation']
    ] as const) {
      this.addSql(`
        create or replace function "${table}_custom_fields"() returns trigger language plpgsql as $$
        begin
          -- Only when the values change (or on insert): defining a field later never blocks unrelated edits.
          if tg_op = 'INSERT' or new."custom_fields" is distinct from old."custom_fields" then
            new."custom_fields" := "ipam_check_custom_fields"('${kind}', new."custom_fields");
          end if;
          return new;
        end $$;`)
      this.addSql(`create trigger "${table}_custom_fields" before insert or update of "custom_fields" on "${table}" for each row execute function "${table}_custom_fields"();`)
    }
    this.addSql(`
      create or replace function "ip_custom_fields_guard"() returns trigger language plpgsql as $$
      declare n bigint;
      begin
        if old."kind" = 'pool' then
          select count(*) into n from "ip_pools" where "custom_fields" ? old."name";
        else
          select count(*) into n from "ip_allocations" where "custom_fields" ? old."name";
        end if;
        if n > 0 then
          raise exception 'custom field %: % % row(s) hold a value; remove the values first', old."name", n, old."kind"
            using errcode = '23503', constraint = 'ip_custom_fields_in_use';
        end if;
        return old;
      end $$;`)
    this.addSql(`create trigger "ip_custom_fields_guard" before delete on "ip_custom_fields" for each row execute function "ip_custom_fields_guard"();`)

    // Ownership and grants: viewers read; admins change sites, VLANs, tags, fields and pools' links;
    // operators tag allocations (they change allocations).
    const tables = ['ip_sites', 'ip_vlan_groups', 'ip_vlans', 'ip_tags', 'ip_pool_tags', 'ip_allocation_tags', 'ip_custom_fields']
    for (const t of tables) this.addSql(`alter table "${t}" owner to netkeeper_owner;`)
    this.addSql(`revoke all on ${tables.map((t) => `"${t}"`).join(', ')} from public;`)
    this.addSql(`grant select on ${tables.map((t) => `"${t}"`).join(', ')} to netkeeper_viewer;`)
    this.addSql(`grant insert, delete on "ip_allocation_tags" to netkeeper_operator;`)
    this.addSql(`grant insert, update, delete on "ip_sites", "ip_vlan_groups", "ip_vlans", "ip_tags", "ip_pool_tags", "ip_custom_fields" to netkeeper_admin;`)
    this.addSql(
      `grant usage, select on sequence "ip_sites_id_seq", "ip_vlan_groups_id_seq", "ip_vlans_id_seq", "ip_tags_id_seq", "ip_custom_fields_id_seq" to netkeeper_admin;`
    )
    this.addSql(own(FUNCTIONS))
  }

  override async down(): Promise<void> {
    // The text/VID columns were kept in step all along: dropping the objects leaves them as they read.
    this.addSql(`drop trigger if exists "ip_custom_fields_guard" on "ip_custom_fields";`)
    this.addSql(`drop function if exists "ip_custom_fields_guard"();`)
    this.addSql(`drop trigger if exists "ip_pools_custom_fields" on "ip_pools";`)
    this.addSql(`drop trigger if exists "ip_allocations_custom_fields" on "ip_allocations";`)
    this.addSql(`drop function if exists "ip_pools_custom_fields"();`)
    this.addSql(`drop function if exists "ip_allocations_custom_fields"();`)
    this.addSql(`drop function if exists "ipam_check_custom_fields"(text, jsonb);`)
    this.addSql(`alter table "ip_pools" drop column if exists "custom_fields";`)
    this.addSql(`alter table "ip_allocations" drop column if exists "custom_fields";`)
    this.addSql(`drop table if exists "ip_custom_fields";`)
    this.addSql(`drop table if exists "ip_allocation_tags";`)
    this.addSql(`drop table if exists "ip_pool_tags";`)
    this.addSql(`drop table if exists "ip_tags";`)
    this.addSql(`drop trigger if exists "ip_vlans_vid" on "ip_vlans";`)
    this.addSql(`drop function if exists "ip_vlans_vid"();`)
    this.addSql(`drop trigger if exists "ip_sites_rename" on "ip_sites";`)
    this.addSql(`drop function if exists "ip_sites_rename"();`)
    this.addSql(`drop trigger if exists "ip_pools_objects" on "ip_pools";`)
    this.addSql(`drop function if exists "ip_pools_objects"();`)
    this.addSql(`alter table "ip_pools" drop column if exists "site_ref_id", drop column if exists "vlan_ref_id";`)
    this.addSql(`drop table if exists "ip_vlans";`)
    this.addSql(`drop table if exists "ip_vlan_groups";`)
    this.addSql(`drop table if exists "ip_sites";`)
  }
}
