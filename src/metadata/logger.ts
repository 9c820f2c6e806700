// The logging shape, kept under this path for the Kubernetes client files
// that still import it from here; it lives in src/log.ts.

export { type LogFields, type Logger, SILENT_LOGGER } from '../log.js';
