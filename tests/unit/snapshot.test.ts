/** The committed schema snapshot matches the entities (regenerate with `npm run db:snapshot`). */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { SNAPSHOT_NAME, targetSchemaJson } from '../../scripts/update-snapshot'

describe('migration snapshot', () => {
  it('is current', async () => {
    const committed = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../migrations', `${SNAPSHOT_NAME}.json`), 'utf8'))
    expect(await targetSchemaJson()).toEqual(committed)
  })
})
