import { describe, expect, it } from 'vitest';
import { startServer } from '../support/serverProcess';
import { describeWithServices, services } from '../support/services';

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

describeWithServices('npm start when a server it needs cannot be reached', ['mongodb'], () => {
  it('names the server and the setting, without the password, and exits 1', async () => {
    const server = startServer({
      MONGODB_URL: services.mongodbUrl!,
      RABBITMQ_URL: 'amqp://guest:secret-password@127.0.0.1:1',
      MONGODB_DATABASE: 'startup_unreachable',
      ROLE: 'worker',
      LOG_LEVEL: 'silent',
    });
    expect(await server.exited).toBe(1);
    expect(server.output()).toMatch(/^Start-up error: could not start with RabbitMQ at RABBITMQ_URL=amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1: /m);
    expect(server.output()).not.toContain('secret-password');
  });
});
