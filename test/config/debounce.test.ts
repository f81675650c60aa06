import { test } from 'node:test';
import assert from 'node:assert/strict';
import { debounce } from '../../src/config/debounce.ts';

test('a burst of triggers runs the action once, after the quiet period', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const debouncer = debounce(() => runs++, 200);
  for (let i = 0; i < 5; i++) {
    debouncer.trigger();
    t.mock.timers.tick(150);
  }
  assert.equal(runs, 0, 'each trigger restarts the quiet period');
  t.mock.timers.tick(49); // 150 of the last 200 ms already passed in the loop
  assert.equal(runs, 0);
  t.mock.timers.tick(1);
  assert.equal(runs, 1);
  t.mock.timers.tick(1000);
  assert.equal(runs, 1);
  debouncer.trigger();
  t.mock.timers.tick(200);
  assert.equal(runs, 2, 'a later change runs again');
});

test('cancel drops a pending run', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const debouncer = debounce(() => runs++, 200);
  debouncer.trigger();
  debouncer.cancel();
  t.mock.timers.tick(1000);
  assert.equal(runs, 0);
});
