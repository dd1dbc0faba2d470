import { createRequire } from 'node:module'

type YamlParse = (text: string) => unknown

let parse: YamlParse | undefined

/**
 * `yaml`'s `parse`, loaded on first use: profiles and inventories are read once, at most, per
 * audit, and importing `yaml` up front (about 70 modules) was a measurable part of every
 * auditor process's start-up, a capture read included (issue 15).
 */
export function parseYamlText(text: string): unknown {
  parse ??= (createRequire(import.meta.url)('yaml') as { parse: YamlParse }).parse
  return parse(text)
}
