/** Platform-wide choices that rendering needs and no single module or world owns. */
export interface RenderSettings {
  /** The image of the init container that waits for dependencies (needs `sh` and `nslookup`). */
  initImage: string;
  /** Requests and limits for modules that set no `resources`. */
  defaultResources: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}

export const DEFAULT_SETTINGS: RenderSettings = {
  initImage: 'busybox:1.37',
  defaultResources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
};
