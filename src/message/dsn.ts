/**
 * message/dsn.ts — RFC 3461 delivery status notification parameters as a submitter gives them:
 * the NOTIFY word list, one definition for sendmail -N (cli/flags.ts), RCPT TO NOTIFY=
 * (smtpin/protocol.ts) and the re-validation of a drop envelope (spool/envelope.ts). Pure.
 */

/** RFC 3461 NOTIFY words: NEVER alone, or any of the other three. */
export const NOTIFY_WORDS: readonly string[] = ['NEVER', 'SUCCESS', 'DELAY', 'FAILURE'];

/**
 * A NOTIFY list as stored in `notify`: upper-case words (the caller upper-cases), each once, NEVER
 * alone; null when it is not one. Pure.
 */
export function checkNotify(words: readonly unknown[]): string[] | null {
  const list = [...new Set(words)];
  if (list.length === 0 || list.some((w) => typeof w !== 'string' || !NOTIFY_WORDS.includes(w))) return null;
  if (list.includes('NEVER') && list.length > 1) return null;
  return list as string[];
}
