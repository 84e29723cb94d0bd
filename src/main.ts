import { start } from './cli/start.js';

/** `npm start`: the same as `bastion start` (src/cli/start.ts). */
void start();
