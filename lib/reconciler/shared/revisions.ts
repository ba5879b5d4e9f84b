/**
 * The game revisions the reconciler keeps (issue 10): one apps/v1 ControllerRevision per
 * game and content (lib/resolve/revision.ts), in anvil-system — the platform's namespace,
 * Anvil's own, where one revision serves the worlds of a game in every namespace — owned
 * by its GameDefinition (deleting the game removes its history). Created when first needed
 * (the first world of the game, or the rollout controller seeing new definitions), never
 * changed (ControllerRevision data is immutable), read from an informer cache.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { GameDefinition } from '../../api/schema.js';
import { LABEL_GAME, MANAGED_BY } from '../../render/labels.js';
import type { Catalog } from '../../resolve/catalog.js';
import { PLATFORM_NAMESPACE } from '../../resolve/resolve.js';
import { catalogOfRevision, revisionName, snapshotGame, type RevisionData } from '../../resolve/revision.js';
import type { Informer } from '../runtime/informer.js';
import { revisionsToPrune } from './revisionHistory.js';
import { isConflict, type Kube } from '../runtime/kube.js';

export const REVISIONS_PATH = `/apis/apps/v1/namespaces/${PLATFORM_NAMESPACE}/controllerrevisions`;

export interface ControllerRevision extends KubernetesObject {
  data: RevisionData;
  revision: number;
}

export interface RevisionEntry {
  name: string;
  number: number;
  data: RevisionData;
  /** The revision's definitions as a catalog; problems when the snapshot no longer validates. */
  catalog: Catalog;
  problems: string[];
}

export class Revisions {
  /** Revisions this process created, until the informer has them. */
  private readonly created = new Map<string, ControllerRevision>();
  /** Parsed revisions by name: immutable, so kept for as long as they exist. */
  private readonly parsed = new Map<string, RevisionEntry>();

  constructor(
    private readonly kube: Kube,
    private readonly cache: Informer<KubernetesObject>,
  ) {}

  private object(name: string): ControllerRevision | undefined {
    return (this.cache.get(name, PLATFORM_NAMESPACE) as ControllerRevision | undefined) ?? this.created.get(name);
  }

  get(name: string): RevisionEntry | undefined {
    const o = this.object(name);
    if (!o) return undefined;
    const known = this.parsed.get(name);
    if (known) return known;
    const { catalog, diagnostics } = catalogOfRevision(name, o.data);
    const entry = { name, number: o.revision, data: o.data, catalog, problems: diagnostics.filter((d) => d.severity === 'error').map((d) => d.message) };
    this.parsed.set(name, entry);
    return entry;
  }

  /** The game's revisions, oldest first. */
  history(game: string): RevisionEntry[] {
    const names = new Set([...this.cache.list(), ...this.created.values()].filter((o) => o.metadata?.labels?.[LABEL_GAME] === game).map((o) => o.metadata!.name!));
    return [...names].map((n) => this.get(n)!).filter(Boolean).sort((a, b) => a.number - b.number);
  }

  /**
   * The revision of the game's live definitions (created when it does not exist yet), or
   * undefined when they cannot make one (the game or a module is missing or invalid).
   */
  async latest(game: GameDefinition, live: Catalog): Promise<string | undefined> {
    const data = snapshotGame(live, game.metadata.name);
    if (!data) return undefined;
    const name = revisionName(data);
    if (this.object(name)) return name;
    const number = Math.max(0, ...this.history(game.metadata.name).map((r) => r.number)) + 1;
    const body: ControllerRevision = {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        namespace: PLATFORM_NAMESPACE,
        labels: { [MANAGED_BY]: 'anvil', [LABEL_GAME]: game.metadata.name, 'app.kubernetes.io/part-of': game.metadata.name },
        ...(game.metadata.uid ? { ownerReferences: [{ apiVersion: game.apiVersion, kind: 'GameDefinition', name: game.metadata.name, uid: game.metadata.uid }] } : {}),
      },
      data,
      revision: number,
    };
    try {
      this.created.set(name, await this.kube.create(body));
    } catch (e) {
      if (!isConflict(e)) throw e; // created meanwhile (by this replica's other worker, or before a restart)
      this.created.set(name, body);
    }
    return name;
  }

  /** The revision worlds of this game should run: the pinned one (a rollback) or the latest. */
  async target(game: GameDefinition, live: Catalog): Promise<{ name?: string; problem?: string }> {
    const pinned = game.spec.rollout?.revision;
    if (pinned) {
      const entry = this.get(pinned);
      if (!entry || entry.data.game.name !== game.metadata.name) return { problem: `spec.rollout.revision: no ControllerRevision ${PLATFORM_NAMESPACE}/${pinned} of game ${game.metadata.name}` };
      return { name: pinned };
    }
    const name = await this.latest(game, live);
    return name ? { name } : { problem: 'the game or one of its modules is missing or invalid: no revision can be made of it' };
  }

  /**
   * Deletes the game's revisions beyond `limit` that nothing uses (revisionHistory.ts), each
   * only in the version the cache saw (uid and resourceVersion preconditions). Returns the names deleted.
   */
  async prune(game: string, limit: number, inUse: ReadonlySet<string>): Promise<string[]> {
    const doomed = revisionsToPrune(this.history(game), limit, inUse);
    const deleted: string[] = [];
    for (const name of doomed) {
      const o = this.cache.get(name, PLATFORM_NAMESPACE);
      if (!o?.metadata?.uid || !o.metadata.resourceVersion) continue; // made by this process, not in the cache yet: not old
      try {
        await this.kube.deleteExactly({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name, namespace: PLATFORM_NAMESPACE, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion } });
      } catch (e) {
        if (isConflict(e)) continue;
        throw e;
      }
      this.created.delete(name);
      this.parsed.delete(name);
      deleted.push(name);
    }
    return deleted;
  }

  /** Forget what the informer now has. */
  settle(name: string): void {
    if (this.cache.get(name, PLATFORM_NAMESPACE)) this.created.delete(name);
  }
}
