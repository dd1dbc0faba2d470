/**
 * Ask for a secret on the terminal without echo: the prompt goes to stderr (stdout stays clean for
 * `--json`), the terminal is put in raw mode so nothing typed is shown, and restored afterwards on
 * every path. Enter ends the input, Backspace deletes, Ctrl-C and Ctrl-D on an empty line abort.
 */
import type { ReadStream } from 'node:tty'
import { PeerguardError } from '@peerguard/interface'

/** A passphrase longer than this is surely pasted by mistake (matches the passphrase file limit). */
const MAX_CHARS = 64 * 1024

/** Read one line from the terminal `input` without echo, after writing `question` to `output`. */
export function promptHidden(question: string, input: ReadStream, output: NodeJS.WritableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let typed = ''
    const wasRaw = input.isRaw
    const finish = (err: Error | undefined): void => {
      input.off('data', onData)
      input.setRawMode(wasRaw)
      input.pause()
      output.write('\n')
      if (err === undefined) resolve(typed)
      else reject(err)
      typed = ''
    }
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          if (typed === '') {
            finish(new PeerguardError('usage', 'no passphrase given (empty line)'))
            return
          }
          finish(undefined)
          return
        }
        if (ch === '\u0003') {
          finish(new PeerguardError('usage', 'passphrase prompt interrupted'))
          return
        }
        if (ch === '\u0004') {
          if (typed === '') {
            finish(new PeerguardError('usage', 'passphrase prompt ended (Ctrl-D)'))
            return
          }
          continue
        }
        if (ch === '\u007f' || ch === '\b') {
          typed = Array.from(typed).slice(0, -1).join('')
          continue
        }
        if (ch === '\u0015') {
          typed = '' // Ctrl-U: kill the line, as the terminal would
          continue
        }
        if (ch < ' ') continue
        typed += ch
        if (typed.length > MAX_CHARS) {
          finish(new PeerguardError('usage', `passphrase longer than ${MAX_CHARS} characters`))
          return
        }
      }
    }
    // Echo off before the question is shown: whatever is typed after seeing it must not appear.
    input.setRawMode(true)
    output.write(question)
    input.setEncoding('utf8')
    input.on('data', onData)
    input.resume()
  })
}
