#!/usr/bin/env node
import { cleanupImagesMain } from '../lib/cli/cleanup-images';

cleanupImagesMain(process.argv.slice(2)).then((code) => (process.exitCode = code));
