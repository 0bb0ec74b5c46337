/**
 * queue/terminal.ts — text from a message shown safely on a terminal: control characters that a
 * terminal would act on (ESC sequences that clear the screen, set the window title, or worse; a
 * CR that overwrites a line) are shown visibly, as `cat -v` does: ESC as ^[, DEL as ^?, a C1
 * control (U+0080..U+009F) as M-^[ and so on. Tab and line feed stay. Pure.
 */

const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

function visible(c: string): string {
  const n = c.charCodeAt(0);
  if (n === 0x7f) return '^?';
  if (n >= 0x80) return `M-${visible(String.fromCharCode(n - 0x80))}`;
  return `^${String.fromCharCode(n + 64)}`;
}

/** `text` with every control character but tab and line feed made visible. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, visible);
}

/** A JSON text with DEL and C1 controls as \u escapes (JSON escapes C0 itself): the same value. */
export function escapeJsonControls(json: string): string {
  return json.replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Is this output stream a terminal (where escapes would be acted on)? */
export function isTerminal(stream: NodeJS.WritableStream): boolean {
  return Boolean((stream as { isTTY?: boolean }).isTTY);
}
