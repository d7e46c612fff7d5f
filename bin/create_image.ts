#!/usr/bin/env node
import { createImageMain } from '../lib/cli/create-image';

createImageMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
