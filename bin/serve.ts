#!/usr/bin/env node
import { serveMain } from '../lib/cli/serve';

serveMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
