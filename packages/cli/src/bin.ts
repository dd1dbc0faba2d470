#!/usr/bin/env node
import { processIO } from './io.js'
import { run } from './program.js'

const code = await run(process.argv.slice(2), processIO())
process.exitCode = code
