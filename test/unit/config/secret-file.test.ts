import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secretFileProblem } from '../../../src/config/secret-file.js';

test('secret file permission rule: not others; group only the runner group', () => {
  assert.equal(secretFileProblem({ mode: 0o100600, gid: 5 }, [0]), null);
  assert.equal(secretFileProblem({ mode: 0o100640, gid: 5 }, [5]), null);
  assert.match(secretFileProblem({ mode: 0o100640, gid: 5 }, [0])!, /group/);
  assert.match(secretFileProblem({ mode: 0o100604, gid: 0 }, [0])!, /others/);
});

test('secret file fixes leave the file readable by the user that delivers mail', () => {
  const outbox = { uid: 998, group: 'outbox' };
  // Its own file: chmod 600 (what the README's environment table says).
  assert.match(secretFileProblem({ mode: 0o100644, gid: 998, uid: 998 }, [998], outbox)!, /others \(mode 0644\); fix with: chmod 600 FILE$/);
  // root:outbox (the privilege table's advice): keep the group, drop the others.
  assert.match(secretFileProblem({ mode: 0o100644, gid: 998, uid: 0 }, [998], outbox)!, /fix with: chmod 640 FILE$/);
  assert.equal(secretFileProblem({ mode: 0o100640, gid: 998, uid: 0 }, [998], outbox), null);
  // root:root, read by outbox: chmod 600 would lock it out; give it the runner's group.
  assert.match(secretFileProblem({ mode: 0o100644, gid: 0, uid: 0 }, [998], outbox)!, /fix with: chgrp outbox FILE && chmod 640 FILE$/);
  assert.match(
    secretFileProblem({ mode: 0o100640, gid: 0, uid: 0 }, [998], outbox)!,
    /not the group of the user that delivers mail; fix with: chgrp outbox FILE && chmod 640 FILE$/,
  );
});
