// routes/index.ts: every Engine API route stowage answers (docs/api.md lists them).
import type { Router } from '../router.js';
import { systemRoutes } from './system.js';
import { imageRoutes } from './images.js';
import { containerRoutes } from './containers.js';
import { streamRoutes } from './streams.js';
import { volumeRoutes } from './volumes.js';
import { networkRoutes } from './networks.js';
import { pluginRoutes } from './plugins.js';
import { registerUiRoutes } from '../../ui/routes.js';

export function registerRoutes(r: Router): void {
  systemRoutes(r);
  imageRoutes(r);
  streamRoutes(r);
  containerRoutes(r);
  volumeRoutes(r);
  networkRoutes(r);
  pluginRoutes(r);
  registerUiRoutes(r);
}
