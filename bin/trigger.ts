#!/usr/bin/env node
import { triggerMain } from '../lib/cli/trigger';

triggerMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
