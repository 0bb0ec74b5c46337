import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lstat, openFile, readText, readdir, rename, unlink, writeAll } from '../../../src/spool/file.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-file-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;

test('openFile: write, chmod, sync and close as FileHandle does; a second close leaves the descriptor alone', async () => {
  const file = path.join(dir, 'a');
  const fh = await openFile(file, NEW, 0o600);
  assert.deepEqual(await fh.write(Buffer.from('hello '), 0, 6), { bytesWritten: 6 });
  await writeAll(fh, 'world\n');
  await fh.chmod(0o644);
  await fh.sync();
  await fh.close();
  // The number is free again: another file may get it; closing the old handle must not close that one.
  const other = await openFile(path.join(dir, 'b'), NEW, 0o600);
  await fh.close();
  await writeAll(other, Buffer.from('still open\n'));
  await other.close();
  assert.equal(await readText(file), 'hello world\n');
  assert.equal((await lstat(file)).mode & 0o777, 0o644);
  assert.equal(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'still open\n');
});

test('errors reject with the errno code; rename, unlink and readdir work', async () => {
  await assert.rejects(openFile(path.join(dir, 'a'), NEW, 0o600), { code: 'EEXIST' });
  await assert.rejects(readText(path.join(dir, 'missing')), { code: 'ENOENT' });
  await rename(path.join(dir, 'a'), path.join(dir, 'c'));
  assert.deepEqual((await readdir(dir)).sort(), ['b', 'c']);
  await unlink(path.join(dir, 'b'));
  await assert.rejects(unlink(path.join(dir, 'b')), { code: 'ENOENT' });
  assert.deepEqual(await readdir(dir), ['c']);
});
