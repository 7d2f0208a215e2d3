// `login` in place of a token: asks `ログインID:` and `パスワード:` (the password without echo)
// on a terminal; when standard input is not a terminal (a service, a test) it reads two lines.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export interface Credentials {
  login: string;
  password: string;
}

export class LoginPromptError extends Error {
  override readonly name = 'LoginPromptError';
}

/** Two lines from a non-terminal stream. */
async function twoLines(input: Readable): Promise<[string, string]> {
  const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
  const lines: string[] = [];
  for await (const line of rl) {
    lines.push(line);
    if (lines.length === 2) break;
  }
  rl.close();
  if (lines.length < 2) throw new LoginPromptError('login: standard input ended before a login id and a password (two lines) were read');
  return [lines[0] as string, lines[1] as string];
}

/** Reads a line on a TTY with echo off (raw mode), handling backspace and Ctrl+C. */
function readHidden(input: NodeJS.ReadStream, output: Writable, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    output.write(prompt);
    let text = '';
    input.setRawMode(true);
    input.resume();
    const onData = (buf: Buffer): void => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          output.write('\n');
          resolve(text);
          return;
        }
        if (ch === '\u0003') {
          done();
          output.write('\n');
          reject(new LoginPromptError('login cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch >= ' ') text += ch;
      }
    };
    const done = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
    };
    input.on('data', onData);
  });
}

async function ask(input: NodeJS.ReadStream, output: Writable, prompt: string): Promise<string> {
  const rl = createInterface({ input, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question(prompt, resolve));
  } finally {
    rl.close();
  }
}

export async function promptCredentials(input: NodeJS.ReadStream = process.stdin, output: Writable = process.stderr): Promise<Credentials> {
  let login: string;
  let password: string;
  if (input.isTTY) {
    login = await ask(input, output, 'ログインID: ');
    password = await readHidden(input, output, 'パスワード: ');
  } else {
    [login, password] = await twoLines(input);
  }
  login = login.trim();
  if (login === '' || password === '') throw new LoginPromptError('login: the login id and the password must not be empty');
  return { login, password };
}
