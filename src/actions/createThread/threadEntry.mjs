// A worker thread starts without the main thread's loader hooks: register tsx here, then load
// the TypeScript entry (as src/processing/workerThreadEntry.mjs does for the batch workers).
import { register } from 'tsx/esm/api';

register();
await import('./threadMain.ts');
