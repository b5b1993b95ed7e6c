import { Migration } from '@mikro-orm/migrations'

/**
 * Next free block by index, not by walking (issue 16, "next free /26 in a /8 with 100,000 children: p50 <= 5 ms").
 *
 * The search read a container's free ranges in address order and dropped, one by one, those too short for the
 * block asked for: in a fragmented container (every 7th child a /27, leaving a /27 hole no /26 fits in) that
 * was 14,000 rows read and thrown away before the first range that held a /26, work proportional to the
 * children, not to the answer.
 *
 * 1. `ip_free_ranges.block_len` (generated, stored): the prefix length of the largest aligned CIDR block inside
 *    the range (32 for a single IPv4 address; smaller is larger). `ipam_block_prefix(lo, hi)` computes it: a
 *    block is never longer than the range, nor longer than the smallest network holding both ends, so for IPv4
 *    it tries at most two prefix lengths; IPv6 ranges wider than 2^62 start from the common prefix instead.
 * 2. The index `(pool_id, block_len, first_ip)`: "the lowest K ranges of this container that hold an aligned /N"
 *    is one short index probe per prefix length from the container's to N (the lowest K of each), merged.
 * 3. The free-space rebuild plans each statement for its pool (`plan_cache_mode = force_custom_plan`): the
 *    cached generic plan of "children of pool $1" counted on the average pool and read every pool of the
 *    table once one container held most of them (a seq scan of 100,000 rows to rebuild an empty /26).
 *
 * The column is derived from the row, so every writer (the allocation functions, the rebuild, the import) keeps
 * it right without a change. Down drops the index and the column.
 */
export class Migration20270106100000_ipam_free_blocks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create function "ipam_block_prefix"(p_lo inet, p_hi inet) returns smallint language plpgsql immutable strict parallel safe as $$
      declare
        maxl int := case family(p_lo) when 4 then 32 else 128 end;
        lo inet := set_masklen(p_lo, maxl);
        hi inet := set_masklen(p_hi, maxl);
        p int := masklen(inet_merge(lo, hi));
        b inet;
        s inet;
      begin
        if p >= maxl - 62 then
          -- No aligned block holds more addresses than the range: start at the largest power of two not above its size.
          p := greatest(p, maxl - (length(ltrim(((hi - lo) + 1)::bit(64)::text, '0')) - 1));
        end if;
        loop
          b := set_masklen(lo, p);
          s := set_masklen(network(b)::inet, maxl);
          if s < lo then
            -- lo is not aligned to /p: the next /p starts after lo's, unless that one already reaches hi.
            s := set_masklen(broadcast(b), maxl);
            if s >= hi then
              p := p + 1;
              continue;
            end if;
            s := s + 1;
          end if;
          if set_masklen(broadcast(set_masklen(s, p)), maxl) <= hi then return p; end if;
          p := p + 1;
        end loop;
      end $$;`)
    this.addSql(`
      do $$
      begin
        execute 'alter function "ipam_block_prefix"(inet, inet) owner to netkeeper_owner';
        execute format('alter function "ipam_block_prefix"(inet, inet) set search_path = %I, pg_catalog, pg_temp', current_schema());
        execute 'revoke all on function "ipam_block_prefix"(inet, inet) from public';
        execute 'grant execute on function "ipam_block_prefix"(inet, inet) to netkeeper_viewer';
      end $$;`)
    this.addSql(`alter table "ip_free_ranges" add column "block_len" smallint generated always as ("ipam_block_prefix"("first_ip", "last_ip")) stored;`)
    this.addSql(`create index "ip_free_ranges_block_idx" on "ip_free_ranges" ("pool_id", "block_len", "first_ip");`)
    this.addSql(`alter function "ipam_rebuild_free_ranges"(int) set plan_cache_mode = force_custom_plan;`)
  }

  override async down(): Promise<void> {
    this.addSql(`alter function "ipam_rebuild_free_ranges"(int) reset plan_cache_mode;`)
    this.addSql(`drop index if exists "ip_free_ranges_block_idx";`)
    this.addSql(`alter table "ip_free_ranges" drop column if exists "block_len";`)
    this.addSql(`drop function if exists "ipam_block_prefix"(inet, inet);`)
  }
}
