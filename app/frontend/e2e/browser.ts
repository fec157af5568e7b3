// Debian's chromium, as the browser tests and the benchmark launch it. No browser is downloaded
// (the machines cannot fetch one), and the browser trusts the platform's CA through an NSS
// database of its own (made with certutil), instead of ignoring certificate errors.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

/** The network here is closed: nothing may try to reach Google's services. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set (tests/e2e/test_frontend_browser.py sets it)`);
  }
  return value;
}

function requireFile(path: string, hint: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: ${hint}`);
  }
}

/**
 * A HOME whose NSS database (~/.pki/nssdb, where chromium on Linux reads locally trusted
 * certificates) trusts `caFile` for TLS servers. One per CA, made once, atomically.
 */
export function homeTrusting(caFile: string): string {
  requireFile(CHROMIUM, 'install the Debian package chromium (make setup)');
  requireFile(caFile, 'the platform has no CA yet; start it first');
  const digest = createHash('sha256').update(readFileSync(caFile)).digest('hex').slice(0, 16);
  const home = join(tmpdir(), `flightdeck-browser-home-${digest}`);
  if (existsSync(join(home, '.pki', 'nssdb', 'cert9.db'))) {
    return home;
  }
  const staging = mkdtempSync(join(tmpdir(), 'flightdeck-browser-home-'));
  const nssdb = join(staging, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  try {
    execFileSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
    execFileSync('certutil', [
      '-d',
      `sql:${nssdb}`,
      '-A',
      '-t',
      'C,,',
      '-n',
      'flightdeck-ca',
      '-i',
      caFile,
    ]);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`certutil failed (install the Debian package libnss3-tools): ${String(error)}`);
  }
  try {
    renameSync(staging, home);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another process made it meanwhile
  }
  return home;
}
