import Docker from 'dockerode';
import { createLogger } from '../../controller/support/logger.js';
import { ensureRuntimeImage } from '../../controller/sandbox/docker/runtime-image.js';
import { RuntimeConfigSchema } from '../../schemas/index.js';

/**
 * Before the integration files run in parallel: make sure the runtime image exists, so a fresh
 * machine builds it once instead of once per test file.
 */
export default async function setup(): Promise<void> {
  if (process.env['RUN_INTEGRATION_TESTS'] !== '1') return;
  const { image } = RuntimeConfigSchema.parse({ dir: '/tmp' });
  await ensureRuntimeImage(new Docker(), process.env['GLAMBDAR_IMAGE'] ?? image, createLogger('info'));
}
