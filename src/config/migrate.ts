/**
 * config/migrate.ts — translate an msmtp, dma or nullmailer configuration into outbox.conf.
 * Pure: file texts in, TOML text out (with `# NOTE:` comments for whatever does not
 * translate). `outbox config migrate FILE` (commands/config.ts) reads the files and prints it.
 * This module guesses the format and hands the texts to its translation:
 *
 *   msmtp       ~/.msmtprc or /etc/msmtprc: config/migrate-msmtp.ts (accounts, OAuth helpers);
 *   dma         dma.conf plus auth.conf: config/migrate-dma.ts;
 *   nullmailer  remotes, defaultdomain, me: config/migrate-nullmailer.ts;
 * and what they share (the output buffer, relay names and URLs): config/migrate-out.ts.
 * Passwords are never copied into the output: the translation points password_file at a file
 * to create (mode 0600) and says so, so the printed config can be shown and pasted safely.
 * Never throws.
 */
import { migrateMsmtp } from './migrate-msmtp.js';
import { migrateDma } from './migrate-dma.js';
import { migrateNullmailer } from './migrate-nullmailer.js';

export type MigrateFormat = 'msmtp' | 'dma' | 'nullmailer';

export interface MigrateInput {
  format: MigrateFormat;
  /** The main file's name and text. */
  file: string;
  text: string;
  /** dma: auth.conf text. */
  authText?: string;
  /** nullmailer: contents of defaultdomain and me, when present. */
  defaultdomain?: string;
  me?: string;
}

/** Guess the format from the file name, else from the content. */
export function detectFormat(file: string, text: string): MigrateFormat {
  const base = file.split('/').pop()!.toLowerCase();
  if (base === 'remotes') return 'nullmailer';
  if (base.startsWith('dma')) return 'dma';
  if (base.includes('msmtp')) return 'msmtp';
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.some((l) => /^(account|defaults)\b/.test(l))) return 'msmtp';
  if (lines.some((l) => /^(SMARTHOST|PORT|AUTHPATH|SECURETRANSFER|STARTTLS|MASQUERADE)\b/.test(l))) return 'dma';
  return 'nullmailer';
}

export function migrate(input: MigrateInput): string {
  switch (input.format) {
    case 'msmtp':
      return migrateMsmtp(input.file, input.text);
    case 'dma':
      return migrateDma(input.file, input.text, input.authText);
    case 'nullmailer':
      return migrateNullmailer(input.file, input.text, {
        ...(input.defaultdomain ? { defaultdomain: input.defaultdomain } : {}),
        ...(input.me ? { me: input.me } : {}),
      });
  }
}
