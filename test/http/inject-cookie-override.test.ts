// package.json overrides light-my-request's cookie@2 (engines: Node >= 22) with
// cookie@1.1.1 (Node >= 18) so the tree installs without engine warnings on
// Node 20. light-my-request (fastify's inject) calls only stringifySetCookie
// with an object, which 1.1.1 has: this fails if an upgrade needs more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';

test("fastify's inject sends cookies with the overridden cookie package", async () => {
  const app = Fastify();
  app.get('/', (request) => ({ cookie: request.headers.cookie ?? null }));
  const response = await app.inject({ method: 'GET', url: '/', cookies: { a: 'b c', d: 'e' } });
  assert.deepEqual(response.json(), { cookie: 'a=b%20c; d=e' });
  await app.close();
});
