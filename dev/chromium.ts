/**
 * The headless Chromium that browser tests and the bursts bench drive through playwright-core:
 * Debian's `chromium` package (playwright's own download needs hosts this machine cannot reach).
 */
import { chromium, type Browser } from 'playwright-core';
import { aptInstall, findExecutable, isDebianRoot, StepError } from './process';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Headless, no sandbox (root in CI), and nothing that phones home or updates mid-test. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Installs Debian's chromium when it is missing (as root on Debian), else says how. */
export function ensureChromium(): string {
  if (findExecutable([CHROMIUM_PATH])) return CHROMIUM_PATH;
  if (!isDebianRoot()) throw new StepError(`Chromium is missing (${CHROMIUM_PATH}): the browser tests need it`, 'sudo apt-get install -y chromium');
  aptInstall(['chromium']);
  return CHROMIUM_PATH;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
