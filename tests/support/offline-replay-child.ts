/**
 * A replayer process for the offline crash test (tests/integration/offline.test.ts): opens the core and the
 * queue, prints "ready" once replay starts and "done" at the end. The test kills it with SIGKILL at random
 * points and starts it again.
 */
import { Core } from '../../src/main/core'
import { OfflineQueue } from '../../src/main/core/offline/queue'
import { replayQueue } from '../../src/main/core/offline/replay'

const url = process.env.OFFLINE_TEST_URL!
const dataDir = process.env.OFFLINE_TEST_DATA_DIR!
const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
const queue = OfflineQueue.open(dataDir)
process.stdout.write('ready\n')
const r = await replayQueue(core, queue, { batchSize: 25, refreshSnapshot: false })
queue.close()
await core.close()
process.stdout.write(`done ${JSON.stringify(r)}\n`)
