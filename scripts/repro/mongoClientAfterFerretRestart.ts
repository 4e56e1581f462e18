/**
 * node --import tsx scripts/repro/mongoClientAfterFerretRestart.ts [SIGTERM|SIGKILL] [rounds]
 *
 * Reproduces an open problem found by the FerretDB restart fault test (test/faults/serverRestart.test.ts):
 * three MongoClients (driver 7.9, default options) write and read a private FerretDB 1.24 concurrently
 * while it is stopped with the given signal and started again 3 s later, `rounds` times. After each
 * restart it prints, per client, whether any operation succeeded since, the server's type in that
 * client's topology, and its last heartbeat event; and whether a fresh client can read.
 *
 * Seen on the 2-core machine: with SIGTERM (FerretDB shuts down gracefully for about 3 s) a client
 * whose heartbeat starts in that window never finishes it (monitor state "monitoring" for good,
 * server "Unknown", every operation failing server selection after 30 s) while a fresh client
 * works: 4 to 30 stuck client-rounds of 3 x 12. With SIGKILL: none in 3 x 5. A process in that
 * state needs a restart; a platform fix would be a watchdog that replaces such a client.
 */
import { MongoClient } from 'mongodb';
import { startPrivateFerretDb } from '../../test/support/privateServers';

const signal = (process.argv[2] ?? 'SIGTERM') as NodeJS.Signals;
const rounds = Number(process.argv[3] ?? 8);
const ferret = await startPrivateFerretDb();
const clients = Array.from({ length: 3 }, () => new MongoClient(ferret.url, { maxPoolSize: 20 }));
const lastEvent = clients.map(() => '');
clients.forEach((client, i) => {
  for (const event of ['serverHeartbeatStarted', 'serverHeartbeatSucceeded', 'serverHeartbeatFailed'] as const) {
    client.on(event, () => (lastEvent[i] = `${event} at ${new Date().toISOString().slice(11, 23)}`));
  }
});
for (const client of clients) await client.connect();

const okAt = clients.map(() => Date.now());
let stopping = false;
const loops = clients.flatMap((client, i) =>
  Array.from({ length: 6 }, async (_, k) => {
    const collection = client.db('repro').collection<{ _id: string; n?: number }>('docs');
    while (!stopping) {
      const id = `d${k}-${Math.floor(Math.random() * 50)}`;
      try {
        if (k % 3 === 0) await collection.insertOne({ _id: `${id}-${Date.now()}-${Math.random()}` });
        else if (k % 3 === 1) await collection.findOneAndUpdate({ _id: id }, { $inc: { n: 1 } }, { upsert: true });
        else await collection.find({ _id: { $in: [id, 'a'] } }).toArray();
        okAt[i] = Date.now();
      } catch {
        // counted by okAt not moving
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }),
);

let stuck = 0;
for (let round = 0; round < rounds; round++) {
  await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1500));
  await ferret.kill(signal);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await ferret.restart();
  const backAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  const fresh = new MongoClient(ferret.url, { serverSelectionTimeoutMS: 3000 });
  const freshReads = await fresh.db('repro').collection('docs').findOne({}).then(() => 'yes', (error: Error) => error.message);
  await fresh.close();
  const states = clients.map((client, i) => {
    const recovered = okAt[i]! >= backAt;
    if (!recovered) stuck++;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the driver's internals, for the report only
    const server = [...((client as any).topology?.description?.servers?.values() ?? [])][0] as { type?: string } | undefined;
    return `${recovered ? 'recovered' : 'STUCK'} (${server?.type}; last ${lastEvent[i]})`;
  });
  console.log(`round ${round + 1}: ${states.join(' | ')} | a fresh client reads: ${freshReads}`);
}
stopping = true;
await Promise.allSettled(loops);
console.log(`${signal}: ${stuck} stuck client-rounds of ${clients.length * rounds}`);
await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
await ferret.stop();
