import { describe, expect, it } from 'vitest';
import { startServer } from '../support/serverProcess';

/** What `npm start` says, and how it exits, when it cannot run as configured. */
describe('npm start with a configuration it cannot run', () => {
  it.each([
    ['a role without distributed mode', { ROLE: 'api' }, [], /ROLE=api needs distributed mode/],
    ['--role worker without distributed mode', {}, ['--role', 'worker'], /ROLE=worker needs distributed mode/],
    ['only MONGODB_URL', { MONGODB_URL: 'mongodb://127.0.0.1:1/' }, [], /needs both MONGODB_URL and RABBITMQ_URL/],
  ])('exits 1 with a clear message for %s, having listened on nothing', async (_label, env, args, message) => {
    // CI exports the servers' URLs: clear them, so each case sees only what it sets.
    const server = startServer({ MONGODB_URL: '', RABBITMQ_URL: '', ...env, DATA_DIR: '/nonexistent/never-created', PORT: '1' }, args);
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/^Configuration error: /m);
    expect(server.output()).toMatch(message);
  });
});
