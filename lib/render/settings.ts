/** Platform-wide choices that rendering needs and no single module or world owns. */
export interface RenderSettings {
  /** The image of the init container that waits for dependencies (needs `sh` and `nslookup`). */
  initImage: string;
  /** Requests and limits for modules that set no `resources`. */
  defaultResources: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  /** Where each declared region's pods run (issue 17); none declared: regions are only a label. */
  regions?: Record<string, RegionPlacement>;
  /** `podMonitors: true`: a monitoring.coreos.com/v1 PodMonitor for each module with `metrics` (the Prometheus Operator's CRDs must be installed). */
  monitoring?: { podMonitors?: boolean };
}

/** How a region places its pods: node labels, and optionally a core/v1 Affinity and Tolerations. */
export interface RegionPlacement {
  nodeSelector: Record<string, string>;
  affinity?: Record<string, unknown>;
  tolerations?: Record<string, unknown>[];
}

export const DEFAULT_SETTINGS: RenderSettings = {
  initImage: 'busybox:1.37',
  defaultResources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
};
