export { Activity, activityKey, normalizeAddress, trackIpamDriver, trackNetworkDriver } from "./activity.js";
export {
  type DockerApi,
  type DockerEndpoint,
  type DockerIpamConfig,
  type DockerNetwork,
  dockerSocketPath,
  UnixDockerApi,
} from "./docker-api.js";
export {
  confirmOrphans,
  type DockerView,
  findOrphans,
  type HeldState,
  type Orphans,
  orphanCount,
  usesPlugin,
} from "./plan.js";
export {
  type BackgroundReconcile,
  type DockerReconcileOptions,
  type DockerReconcileSummary,
  readHeldState,
  reconcileWithDocker,
  startDockerReconcile,
} from "./reconciler.js";
