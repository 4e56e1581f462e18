// A worker thread starts without the main thread's loader hooks: register tsx here, then load
// the TypeScript entry. (Passing `--import tsx` in the Worker's execArgv is not honoured on Node 20.)
import { register } from 'tsx/esm/api';

register();
await import('./workerThread.ts');
