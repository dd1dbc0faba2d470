/**
 * Actions. A rule grants or refuses verbs; `read` and `write` are classes of verbs:
 *
 * | class   | verbs                                |
 * |---------|--------------------------------------|
 * | `read`  | `list`, `get`                        |
 * | `write` | `put`, `delete`, `rename`, `print`   |
 * | —       | `admin` (never implied; name it)     |
 *
 * Asking `decide()` about a class asks about every verb in it: `read` is allowed only when both
 * `list` and `get` are.
 */
export const VERBS = ['list', 'get', 'put', 'delete', 'rename', 'print', 'admin'] as const
export type Verb = (typeof VERBS)[number]

export const ACTION_CLASSES = {
  read: ['list', 'get'],
  write: ['put', 'delete', 'rename', 'print']
} as const satisfies Record<string, readonly Verb[]>

export type ActionClass = keyof typeof ACTION_CLASSES
/** A verb or a class of verbs. */
export type Action = Verb | ActionClass

export const ACTIONS: readonly Action[] = ['read', 'write', ...VERBS]

/** The class a verb is logged under (`admin` counts as a write). */
export function verbClass(verb: Verb): ActionClass {
  return verb === 'list' || verb === 'get' ? 'read' : 'write'
}

const ACTION_SET: ReadonlySet<unknown> = new Set(ACTIONS)

export function isAction(value: unknown): value is Action {
  return ACTION_SET.has(value)
}

/** The verbs an action stands for. */
export function verbsOf(action: Action): readonly Verb[] {
  return action === 'read' || action === 'write' ? ACTION_CLASSES[action] : [action]
}

/** The verbs a list of actions stands for, in VERBS order, without repeats. */
const EXPANDED = new Map<string, Verb[]>()

export function expandActions(actions: readonly Action[]): Verb[] {
  const key = actions.join(',')
  const cached = EXPANDED.get(key)
  if (cached !== undefined) return cached
  const verbs = expandUncached(actions)
  if (EXPANDED.size < 1024) EXPANDED.set(key, verbs)
  return verbs
}

function expandUncached(actions: readonly Action[]): Verb[] {
  const set = new Set<Verb>()
  for (const a of actions) for (const v of verbsOf(a)) set.add(v)
  return VERBS.filter((v) => set.has(v))
}
