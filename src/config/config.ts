/**
 * config/config.ts — loadConfig: the configuration every mode but a submission reads, file
 * included (config/file.ts). Where things are and the defaults: config/resolve.ts, re-exported
 * here, whose loadConfigLazily a submission uses instead.
 * Throws OutboxError(EX_CONFIG).
 */
import { readConfigFile } from './file.js';
import { type Config, type ConfigSources, locateConfig, settleConfig } from './resolve.js';

export * from './resolve.js';

export function loadConfig(src: ConfigSources = {}): Config {
  const where = locateConfig(src);
  return settleConfig(src, where, where.file ? readConfigFile(where.file) : {});
}
