/** Unit tests: smtpin/sasl.ts, the PLAIN and LOGIN exchanges of SMTP AUTH. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authExchange, readCredentials, type Authenticator } from '../../../src/smtpin/sasl.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
/** A client that answers the challenges with these lines, in order; records the challenges. */
function client(answers: (string | null)[]) {
  const asked: string[] = [];
  return { asked, challenge: async (t: string) => (asked.push(t), answers.shift() ?? null) };
}

test('PLAIN: initial response or after an empty challenge; authzid empty or the same user', async () => {
  assert.deepEqual(await readCredentials('PLAIN', b64('\0alice\0pw'), client([]).challenge), { user: 'alice', pass: 'pw' });
  const c = client([b64('alice\0alice\0pw')]);
  assert.deepEqual(await readCredentials('PLAIN', undefined, c.challenge), { user: 'alice', pass: 'pw' });
  assert.deepEqual(c.asked, ['']);
  assert.deepEqual(await readCredentials('PLAIN', b64('bob\0alice\0pw'), client([]).challenge), { user: null, pass: null }, 'no acting as bob');
  assert.deepEqual(await readCredentials('PLAIN', '!!notbase64', client([]).challenge), { user: null, pass: null });
  assert.equal(await readCredentials('PLAIN', '*', client([]).challenge), 'aborted');
});

test('LOGIN: Username: then Password: challenges; * aborts at either', async () => {
  const c = client([b64('alice'), b64('pw')]);
  assert.deepEqual(await readCredentials('LOGIN', undefined, c.challenge), { user: 'alice', pass: 'pw' });
  assert.deepEqual(c.asked, ['VXNlcm5hbWU6', 'UGFzc3dvcmQ6']);
  assert.equal(await readCredentials('LOGIN', undefined, client([b64('alice'), '*']).challenge), 'aborted');
  assert.deepEqual(await readCredentials('LOGIN', b64('alice'), client([null]).challenge), { user: 'alice', pass: null }, 'a line too long');
});

test('authExchange: mechanism, refusal, wrong password, the third failure closes', async () => {
  const auth: Authenticator = { mechanisms: ['PLAIN'], verify: async (u, p) => u === 'alice' && p === 'pw' };
  const o = (failures: number) => ({ hostname: 'mx.test', clientName: 'c[1.2.3.4]', failures, challenge: client([]).challenge });
  assert.deepEqual(await authExchange(auth, `plain ${b64('\0alice\0pw')}`, o(0)), { kind: 'ok', user: 'alice', mech: 'PLAIN' });
  assert.equal((await authExchange(auth, 'CRAM-MD5', o(0))).kind, 'error');
  const wrong = await authExchange(auth, `PLAIN ${b64('\0alice\0no')}`, o(0));
  assert.equal(wrong.kind, 'failed');
  const third = await authExchange(auth, `PLAIN ${b64('\0alice\0no')}`, o(2));
  assert.equal(third.kind, 'close');
  assert.deepEqual(third.kind === 'close' && third.replies.map((r) => r.code), [535, 421]);
  const refused = await authExchange({ ...auth, refusal: () => 'Error: too many failures' }, 'PLAIN', o(0));
  assert.deepEqual(refused.kind === 'close' && refused.replies.map((r) => r.code), [421]);
});
