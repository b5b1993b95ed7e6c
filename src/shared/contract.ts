/**
 * The one IPC contract. Every channel is named here once, with the schema its argument must satisfy and
 * the type of its result. The main-side handler table, the preload invoker, the browser test bridge and the
 * renderer api module are all derived from this object, so a renamed channel or field fails the type
 * check on both sides.
 *
 * Imports nothing from node, electron or vue (enforced by eslint).
 */
import { z } from 'zod'
import type { ErrorPayload } from './errors'
import type { AppInfo, HealthReport, MigrationState } from './types'

/** A phantom marker that carries a result type without a runtime value. */
const result = <T>(): T => undefined as unknown as T

const noArgs = z.object({}).strict()

export const contract = {
  'app:info': { args: noArgs, result: result<AppInfo>() },
  'db:health': { args: noArgs, result: result<HealthReport>() },
  'db:status': { args: noArgs, result: result<MigrationState>() }
} as const

export type Contract = typeof contract
export type Channel = keyof Contract
export type ArgsOf<C extends Channel> = z.input<Contract[C]['args']>
export type ParsedArgsOf<C extends Channel> = z.output<Contract[C]['args']>
export type ResultOf<C extends Channel> = Contract[C]['result']

/** What actually crosses the wire: Electron drops custom error fields, so errors travel as data. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: ErrorPayload }

export const channels = Object.keys(contract) as Channel[]

/** The renderer-facing api: one async function per channel, same name. */
export type Api = { [C in Channel]: (args: ArgsOf<C>) => Promise<ResultOf<C>> }

/** The preload object: a single invoke function typed by the contract. */
export interface Bridge {
  invoke<C extends Channel>(channel: C, args: ArgsOf<C>): Promise<Envelope<ResultOf<C>>>
}
