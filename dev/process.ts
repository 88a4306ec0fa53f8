/** Small helpers shared by the local stack scripts: child processes, ports, waiting, logging. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const REPO_ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const DATA_DIR = process.env.MONFRI_DATA_DIR ?? join(REPO_ROOT, '.data');

export class StepError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export function logStep(message: string): void {
  process.stdout.write(`\u001b[36m▸\u001b[0m ${message}\n`);
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function findExecutable(candidates: string[]): string | null {
  for (const candidate of candidates) {
    if (candidate.includes('/') ? spawnSync('test', ['-x', candidate]).status === 0 : commandExists(candidate)) {
      return candidate;
    }
  }
  return null;
}

export function isDebianRoot(): boolean {
  return process.getuid?.() === 0 && commandExists('apt-get');
}

/** apt-get install, printing progress; throws a StepError with a fix on failure. */
export function aptInstall(packages: string[]): void {
  logStep(`installing ${packages.join(', ')} from Debian packages (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const install = spawnSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
  if (update.status !== 0 || install.status !== 0) {
    throw new StepError(`apt-get install ${packages.join(' ')} failed`, `install them by hand: sudo apt-get install -y ${packages.join(' ')}`);
  }
}

/** Spawns a long-running child whose output goes to .data/logs/NAME.log. */
export function spawnLogged(name: string, command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const logDir = join(DATA_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

export function logPath(name: string): string {
  return join(DATA_DIR, 'logs', `${name}.log`);
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${what}: process exited with code ${child.exitCode}`);
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`);
}

export async function stopChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
