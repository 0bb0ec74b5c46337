/**
 * message/address.ts — reading, checking and qualifying addresses. Pure.
 *
 * Used for recipient arguments, -f, and (with -t) the To/Cc/Bcc headers. An address list may
 * hold `a@x, b@y`, `Name <a@x>`, `"Doe, J" <j@x>`, `a@x (comment)`, groups `team: a@x, b@y;`
 * and bare local names (`root`), which are qualified with the configured domain.
 * Errors are returned as strings; callers turn them into EX_DATAERR / EX_USAGE.
 * The yes/no syntax checks at the end (isDomain, isMailbox, bareAddress) are the ones the
 * configuration file and OUTBOX_RELAY_* variables are checked with (config/file.ts, relay/).
 */

/** Split an RFC 5322 address list into bare addresses (display names and comments dropped). */
export function splitAddressList(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let angle: string | null = null;
  let inAngle = false;
  let depth = 0; // comment nesting
  let quoted = false;
  const flush = () => {
    const a = (angle ?? cur).trim();
    if (a !== '') out.push(a);
    cur = '';
    angle = null;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < text.length) {
        if (!inAngle && angle === null) cur += c + text[++i]!;
        else angle += c + text[++i]!;
        continue;
      }
      if (c === '"') quoted = false;
      if (inAngle) angle += c;
      else cur += c;
      continue;
    }
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
      continue;
    }
    if (c === '(') {
      depth = 1;
      continue;
    }
    if (inAngle) {
      if (c === '>') inAngle = false;
      else if (c === '"') {
        quoted = true;
        angle += c;
      } else angle += c;
      continue;
    }
    switch (c) {
      case '"':
        quoted = true;
        cur += c;
        break;
      case '<':
        inAngle = true;
        angle = '';
        break;
      case ',':
      case ';':
        flush();
        break;
      case ':':
        // "group-name:" starts a group; the name is not an address.
        cur = '';
        break;
      default:
        cur += c;
    }
  }
  flush();
  // A display name without angle brackets leaves "Name addr" only in broken input; take the
  // last word that looks like an address, else the whole piece (it is checked later).
  return out.map((a) => {
    if (a.startsWith('"') || !/\s/.test(a)) return a;
    const words = a.split(/\s+/);
    return words.find((w) => w.includes('@')) ?? a;
  });
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+$/;

function checkLocalPart(local: string): string | null {
  if (local === '') return 'empty local part';
  if (local.startsWith('"')) {
    if (!/^"([^"\\\r\n]|\\[^\r\n])*"$/.test(local)) return 'bad quoted local part';
    return null;
  }
  for (const atom of local.split('.')) {
    if (atom === '') return 'empty atom in local part (misplaced dot)';
    if (!ATEXT.test(atom)) return 'invalid character in local part';
  }
  return null;
}

function checkDomain(domain: string): string | null {
  if (domain === '') return 'empty domain';
  if (domain.startsWith('[')) {
    return /^\[(IPv6:[0-9A-Fa-f:.]+|\d{1,3}(\.\d{1,3}){3})\]$/.test(domain) ? null : 'bad address literal';
  }
  if (domain.length > 253) return 'domain too long';
  for (const label of domain.replace(/\.$/, '').split('.')) {
    if (label === '') return 'empty label in domain';
    if (label.length > 63) return 'domain label too long';
    if (!/^[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]*[A-Za-z0-9\u0080-\uffff])?$/.test(label)) {
      return 'invalid character in domain';
    }
  }
  return null;
}

/** Split at the last unquoted '@'. */
export function splitAddress(addr: string): { local: string; domain: string | null } {
  let quoted = false;
  let at = -1;
  for (let i = 0; i < addr.length; i++) {
    const c = addr[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '@' && !quoted) at = i;
  }
  return at < 0 ? { local: addr, domain: null } : { local: addr.slice(0, at), domain: addr.slice(at + 1) };
}

export type Checked = { ok: true; address: string } | { ok: false; error: string };

/**
 * Check one bare address and qualify a bare local name with `domain`. Source routes
 * (`@a:b@c`) are reduced to the mailbox, as RFC 5321 allows.
 */
export function checkAddress(raw: string, domain: string): Checked {
  let addr = raw.trim();
  if (/[\x00-\x1f\x7f]/.test(addr)) return { ok: false, error: `${JSON.stringify(raw)}: control character in address` };
  if (addr.startsWith('@') && addr.includes(':')) addr = addr.slice(addr.indexOf(':') + 1);
  if (addr === '') return { ok: false, error: 'empty address' };
  if (addr.startsWith('-')) return { ok: false, error: `${raw}: an address may not start with '-'` };
  const { local, domain: dom } = splitAddress(addr);
  const le = checkLocalPart(local);
  if (le) return { ok: false, error: `${raw}: ${le}` };
  if (dom === null) return { ok: true, address: `${local}@${domain}` };
  const de = checkDomain(dom);
  if (de) return { ok: false, error: `${raw}: ${de}` };
  return { ok: true, address: `${local}@${dom}` };
}

/** Canonical form for de-duplication: the domain is case-insensitive, the local part is not. */
export function addressKey(addr: string): string {
  const { local, domain } = splitAddress(addr);
  return domain === null ? local : `${local}@${domain.toLowerCase()}`;
}

export function isAscii(s: string): boolean {
  return !/[^\x00-\x7f]/.test(s);
}

/** A display name as a phrase: bare if it is plain words, quoted if needed, RFC 2047 if not ASCII. */
export function formatDisplayName(name: string): string {
  if (!isAscii(name)) {
    // RFC 2047: an encoded word is at most 75 characters; 45 bytes of UTF-8 encode to 60.
    const words: string[] = [];
    let chunk = '';
    for (const ch of name) {
      if (Buffer.byteLength(chunk + ch, 'utf8') > 45) {
        words.push(chunk);
        chunk = '';
      }
      chunk += ch;
    }
    if (chunk) words.push(chunk);
    return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
  }
  if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/.test(name) && name.trim() === name) return name;
  return `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

/** A host or domain name (letters, digits, "-", internationalised labels; a final dot allowed). */
const DOMAIN_RE =
  /^(?=.{1,253}$)([A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,61}[A-Za-z0-9\u0080-\uffff])?)(\.[A-Za-z0-9\u0080-\uffff]([A-Za-z0-9\u0080-\uffff-]{0,61}[A-Za-z0-9\u0080-\uffff])?)*\.?$/;

export function isDomain(s: string): boolean {
  return DOMAIN_RE.test(s);
}

/** user@domain (no display name); the local part may be quoted. */
export function isMailbox(s: string): boolean {
  const at = s.lastIndexOf('@');
  if (at <= 0) return false;
  const local = s.slice(0, at);
  if (/[\s<>,;\x00-\x1f]/.test(local) && !/^"[^"\r\n]*"$/.test(local)) return false;
  return isDomain(s.slice(at + 1));
}

/** "Name <a@x>" -> "a@x"; "a@x" -> "a@x". */
export function bareAddress(s: string): string {
  const m = /<([^<>]*)>\s*$/.exec(s);
  return (m ? m[1]! : s).trim();
}
